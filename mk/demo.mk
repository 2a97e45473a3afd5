# `make demo`: builds the example storage engine (examples/kv) and runs its
# scripted demonstration in a fresh directory: threads writing, checkpoints,
# truncation, a child killed with SIGKILL mid-write, recovery, and a check
# that every acknowledged write survived (a non-zero exit otherwise).
# Then the replication example (examples/replicate): a primary process
# appends while a shipper thread tails its log and sends each durable record
# over loopback TCP to a replica process, which is killed with SIGKILL in
# mid-stream and restarted; the example checks that both logs end equal,
# and `walctl dump` of the two logs must print the same lines.
KV_CFLAGS := -std=c11 -Wall -Wextra -Werror -pedantic -O2 -g -Iinclude -pthread
REPLICATE_SRCS := $(sort $(wildcard examples/replicate/*.c))
REPLICATE_RUN  := $(BUILD)/replicate-demo

.PHONY: demo

$(BUILD)/kv_demo: examples/kv/demo.c examples/kv/kv.c examples/kv/kv.h include/wal.h $(REL)/libwal.so
	@mkdir -p $(dir $@)
	$(CC) $(KV_CFLAGS) -o $@ examples/kv/demo.c examples/kv/kv.c -L$(REL) -lwal -Wl,-rpath,$(abspath $(REL))

$(BUILD)/replicate: $(REPLICATE_SRCS) $(wildcard examples/replicate/*.h) include/wal.h $(REL)/libwal.so
	@mkdir -p $(dir $@)
	$(CC) $(KV_CFLAGS) -o $@ $(REPLICATE_SRCS) -L$(REL) -lwal -Wl,-rpath,$(abspath $(REL))

demo: lib $(BUILD)/kv_demo $(BUILD)/replicate walctl
	rm -rf $(BUILD)/kv-demo
	timeout 120 $(BUILD)/kv_demo $(BUILD)/kv-demo
	rm -rf $(REPLICATE_RUN)
	timeout 120 $(BUILD)/replicate demo $(REPLICATE_RUN)
	$(REL)/walctl dump $(REPLICATE_RUN)/primary > $(REPLICATE_RUN)/primary.dump
	$(REL)/walctl dump $(REPLICATE_RUN)/replica > $(REPLICATE_RUN)/replica.dump
	cmp $(REPLICATE_RUN)/primary.dump $(REPLICATE_RUN)/replica.dump
	@echo "walctl dump: both logs print the same $$(wc -l < $(REPLICATE_RUN)/primary.dump) records"
	rm -rf $(REPLICATE_RUN)

CHECK_EXTRA += demo
