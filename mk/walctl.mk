# walctl, the command-line tool (walctl/): built into target/release/walctl
# (installed by the install rules) and tested end to end on real logs.
# `make install` also installs its man pages and shell completions, which
# walctl generates from its own command-line definitions.
.PHONY: walctl test-walctl install-walctl-extras uninstall-walctl-extras

DATADIR ?= $(PREFIX)/share
MANDIR  ?= $(DATADIR)/man
WALCTL_EXTRAS := $(BUILD)/walctl-extras
BASH_COMPLETIONS := $(DATADIR)/bash-completion/completions
ZSH_COMPLETIONS  := $(DATADIR)/zsh/site-functions
FISH_COMPLETIONS := $(DATADIR)/fish/vendor_completions.d

walctl:
	$(CARGO) build --release -p walctl

test-walctl: walctl
	$(CARGO) test --release -p walctl

CHECK_EXTRA += test-walctl

install: install-walctl-extras
uninstall: uninstall-walctl-extras

install-walctl-extras: walctl
	rm -rf $(WALCTL_EXTRAS) && mkdir -p $(WALCTL_EXTRAS)/man
	$(REL)/walctl man --out-dir $(WALCTL_EXTRAS)/man
	for shell in bash zsh fish; do $(REL)/walctl completions $$shell > $(WALCTL_EXTRAS)/walctl.$$shell || exit 1; done
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASH_COMPLETIONS) $(DESTDIR)$(ZSH_COMPLETIONS) \
	    $(DESTDIR)$(FISH_COMPLETIONS)
	install -m 644 $(WALCTL_EXTRAS)/man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(WALCTL_EXTRAS)/walctl.bash $(DESTDIR)$(BASH_COMPLETIONS)/walctl
	install -m 644 $(WALCTL_EXTRAS)/walctl.zsh $(DESTDIR)$(ZSH_COMPLETIONS)/_walctl
	install -m 644 $(WALCTL_EXTRAS)/walctl.fish $(DESTDIR)$(FISH_COMPLETIONS)/walctl.fish
	rm -rf $(WALCTL_EXTRAS)

uninstall-walctl-extras:
	rm -f $(DESTDIR)$(MANDIR)/man1/walctl.1 $(DESTDIR)$(MANDIR)/man1/walctl-*.1 \
	      $(DESTDIR)$(BASH_COMPLETIONS)/walctl $(DESTDIR)$(ZSH_COMPLETIONS)/_walctl \
	      $(DESTDIR)$(FISH_COMPLETIONS)/walctl.fish
