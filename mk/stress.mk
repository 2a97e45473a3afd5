# make stress SEEDS=N: the deterministic fault-injection simulation
# (tests/simulation.rs) for seeds 1..N, and its threaded part for N/10 seeds,
# printing the summary. `make check` runs the same tests with the default
# (small) number of seeds through `cargo test --release`, so this adds no
# check target. A failing seed prints the command that replays it alone.
SEEDS ?= 100000

.PHONY: stress
stress:
	WAL_SIM_SEEDS=$(SEEDS) $(CARGO) test --release --test simulation -- --nocapture

# make stress also runs the damage oracle (tests/damage.rs) on DAMAGE_CASES
# damaged logs (make check runs 3,000), printing the count per kind of damage.
DAMAGE_CASES ?= 60000
stress: stress-damage
.PHONY: stress-damage
stress-damage:
	WAL_DAMAGE_CASES=$(DAMAGE_CASES) $(CARGO) test --release --test damage -- --nocapture damage_oracle

# make stress also kills a writer inside wal_truncate_after in CUT_ROUNDS
# rounds of c_tests/crash_cut.c (make check runs 30 per link, about 5 s), on
# the static link: most kills land inside a cut.
CUT_ROUNDS ?= 2000
stress: stress-crash-cut
.PHONY: stress-crash-cut
stress-crash-cut:
	CRASH_ROUNDS=$(CUT_ROUNDS) CRASH_SECONDS=3600 $(CARGO) test --release --test c_suite -- static/crash_cut
