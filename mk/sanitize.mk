# Memory checks of the C API suites (not the crash tests: too slow there).
# `make check` runs test-valgrind: valgrind memcheck against libwal.so.
# The programs are the C suite's (tests/c_suite/, run by test-c).
# `make asan` builds libwal (Rust, -Zsanitizer=address through
# RUSTC_BOOTSTRAP, with debug assertions and overflow checks) into
# target/asan, and the C suite's harness builds the C tests against it alone
# (with -fsanitize=address, whose runtime serves both) into $(C_BUILT)/asan
# and runs them with LeakSanitizer. docs/reliability-hardening.md has the
# figures.
VALGRIND       ?= valgrind
VALGRIND_FLAGS := -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
MEMCHECK_TESTS := test_api test_recovery test_threads test_misuse

ASAN_TARGET := x86_64-unknown-linux-gnu
ASAN_LIB    := target/asan/$(ASAN_TARGET)/release/libwal.a

.PHONY: test-valgrind asan asan-lib
CHECK_EXTRA += test-valgrind

test-valgrind: test-c
	@passed=0; failed=0; \
	for t in $(MEMCHECK_TESTS); do \
	  start=$$(date +%s); \
	  if $(VALGRIND) $(VALGRIND_FLAGS) $(C_BUILT)/shared/$$t; then \
	    passed=$$((passed + 1)); echo "PASS valgrind $$t ($$(( $$(date +%s) - start ))s)"; \
	  else failed=$$((failed + 1)); echo "FAIL valgrind $$t"; fi; \
	done; \
	echo "valgrind: $$passed passed, $$failed failed"; [ $$failed -eq 0 ]

# Cargo decides whether the instrumented library is up to date.
asan-lib:
	RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" \
	CARGO_PROFILE_RELEASE_DEBUG_ASSERTIONS=true CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true \
	  $(CARGO) rustc --release --lib --crate-type staticlib --target $(ASAN_TARGET) --target-dir target/asan

asan: asan-lib
	WAL_CTESTS_ASAN_LIB=$(abspath $(ASAN_LIB)) CC="$(CC)" $(CARGO) test --release --test c_suite
