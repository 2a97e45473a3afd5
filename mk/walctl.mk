# walctl, the command-line tool (walctl/): built into target/release/walctl
# (installed by the install rules) and tested end to end on real logs.
.PHONY: walctl test-walctl

walctl:
	$(CARGO) build --release -p walctl

test-walctl: walctl
	$(CARGO) test --release -p walctl

CHECK_EXTRA += test-walctl
