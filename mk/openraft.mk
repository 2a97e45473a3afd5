# openraft on libwal (integrations/openraft): `make test-openraft`
#  1. openraft's own storage suite (openraft::testing::Suite::test_all) on
#     the crate's LogStore and KvStateMachine (tests/suite.rs);
#  2. the store across reopens, cuts, purges and power cuts on libwal's
#     SimFs (tests/store.rs);
#  3. a 3-node cluster in one process (tests/cluster.rs), which prints the
#     leader changes, the conflicts cut by truncate_after and the writes
#     read back.
# The crate is a package of its own with its own Cargo.lock, excluded from
# the root workspace like bench/okaywal: libwal never depends on openraft,
# and a plain `cargo build` at the root neither resolves nor builds it.
# cargo builds it here only, in the test profile (dependencies without debug
# info), under its own target directory. From a cold target directory (the
# crates already downloaded) the build takes 87 s of CPU (user + sys), and
# the tests about 20 s (the suite sleeps 1 s after each of its purges, the
# cluster runs 6-8 s): 2 min 38 s in all, measured at a load average of 8
# on the 2 cores; a fresh machine first downloads 136 crates.
OPENRAFT_DIR    := integrations/openraft
OPENRAFT_TARGET := target/openraft

.PHONY: test-openraft
test-openraft:
	$(CARGO) test --locked --manifest-path $(OPENRAFT_DIR)/Cargo.toml --target-dir $(OPENRAFT_TARGET) -- --nocapture

CHECK_EXTRA += test-openraft
