# Memory checks of the C API suites (not the crash tests: too slow there).
# `make check` runs test-valgrind: valgrind memcheck against libwal.so.
# `make asan` builds libwal (Rust, -Zsanitizer=address through
# RUSTC_BOOTSTRAP, with debug assertions and overflow checks) and the C tests
# (gcc -fsanitize=address, whose runtime serves both) into target/asan and
# build/asan, and runs them with LeakSanitizer. docs/reliability-hardening.md
# has the figures.
VALGRIND       ?= valgrind
VALGRIND_FLAGS := -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
MEMCHECK_TESTS := test_api test_recovery test_threads test_misuse

ASAN_TARGET := x86_64-unknown-linux-gnu
ASAN_LIB    := target/asan/$(ASAN_TARGET)/release/libwal.a
ASAN_TESTS  := $(basename $(notdir $(wildcard c_tests/test_*.c)))

.PHONY: test-valgrind asan asan-lib
CHECK_EXTRA += test-valgrind

test-valgrind: lib $(addprefix $(BUILD)/shared/,$(MEMCHECK_TESTS))
ifeq ($(shell command -v $(or $(VALGRIND),valgrind)),)
	@$(CHECK_SKIP) test-valgrind valgrind "apt-get install valgrind"
else
	@passed=0; failed=0; \
	for t in $(MEMCHECK_TESTS); do \
	  start=$$(date +%s); \
	  if $(VALGRIND) $(VALGRIND_FLAGS) $(BUILD)/shared/$$t; then \
	    passed=$$((passed + 1)); echo "PASS valgrind $$t ($$(( $$(date +%s) - start ))s)"; \
	  else failed=$$((failed + 1)); echo "FAIL valgrind $$t"; fi; \
	done; \
	echo "valgrind: $$passed passed, $$failed failed"; [ $$failed -eq 0 ]
endif

# Cargo decides whether the instrumented library is up to date.
asan-lib:
	RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" \
	CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
	  $(CARGO) rustc --release --lib --crate-type staticlib --target $(ASAN_TARGET) --target-dir target/asan

$(BUILD)/asan/%: c_tests/%.c c_tests/*.h include/wal.h asan-lib $(NATIVE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TEST) -fsanitize=address -fno-omit-frame-pointer -o $@ $< $(ASAN_LIB) $(STATIC_LIBS)

asan: $(addprefix $(BUILD)/asan/,$(ASAN_TESTS))
	ASAN_OPTIONS=detect_leaks=1 sh c_tests/run.sh $^
