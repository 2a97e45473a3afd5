# Fuzzing libwal's recovery and reader with cargo-fuzz (fuzz/, a workspace
# of its own). Not part of `make check`, which runs the same checks on
# seeded inputs (tests/hostile.rs). `make fuzz FUZZ_SECONDS=1800`; crashes
# land in fuzz/artifacts/open_dir/, the corpus in fuzz/corpus/open_dir/.
FUZZ_SECONDS ?= 300
FUZZ_FLAGS   ?= -rss_limit_mb=2048 -malloc_limit_mb=64 -max_len=4096 -print_final_stats=1

.PHONY: fuzz
fuzz:
	@command -v cargo-fuzz >/dev/null || { echo "fuzz: needs cargo-fuzz: cargo install cargo-fuzz"; exit 1; }
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O open_dir -- -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS)
