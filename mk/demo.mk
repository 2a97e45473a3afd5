# `make demo`: builds the example storage engine (examples/kv) and runs its
# scripted demonstration in a fresh directory: threads writing, checkpoints,
# truncation, a child killed with SIGKILL mid-write, recovery, and a check
# that every acknowledged write survived (a non-zero exit otherwise).
KV_CFLAGS := -std=c11 -Wall -Wextra -Werror -pedantic -O2 -g -Iinclude -pthread

.PHONY: demo

$(BUILD)/kv_demo: examples/kv/demo.c examples/kv/kv.c examples/kv/kv.h include/wal.h $(REL)/libwal.so
	@mkdir -p $(dir $@)
	$(CC) $(KV_CFLAGS) -o $@ examples/kv/demo.c examples/kv/kv.c -L$(REL) -lwal -Wl,-rpath,$(abspath $(REL))

demo: lib $(BUILD)/kv_demo
	rm -rf $(BUILD)/kv-demo
	timeout 120 $(BUILD)/kv_demo $(BUILD)/kv-demo

CHECK_EXTRA += demo
