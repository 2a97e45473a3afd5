# `make install PREFIX=...` (DESTDIR honoured): the shared library as
# libwal.so.VERSION with its soname link libwal.so.MAJOR and the link
# libwal.so, libwal.a, wal.h, wal.hpp, wal.pc, and walctl when its crate is
# there. `make uninstall` removes them. `make test-install` (in make check)
# installs into a prefix under build/, builds programs against it with
# pkg-config, and uninstalls.
BINDIR       ?= $(PREFIX)/bin
INSTALL_TEST := $(abspath $(BUILD))/install-test

.PHONY: install uninstall walctl-release test-install

install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)
	install -m 644 include/wal.h include/wal.hpp $(DESTDIR)$(INCDIR)/
	install -m 644 $(REL)/libwal.a $(DESTDIR)$(LIBDIR)/libwal.a
	install -m 755 $(REL)/libwal.so $(DESTDIR)$(LIBDIR)/libwal.so.$(VERSION)
	ln -sf libwal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libwal.so.$(MAJOR)
	ln -sf libwal.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libwal.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@STATIC_LIBS@|$(STATIC_LIBS)|' \
	    wal.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/wal.pc
	if [ -f $(REL)/walctl ]; then \
	  install -d $(DESTDIR)$(BINDIR) && install -m 755 $(REL)/walctl $(DESTDIR)$(BINDIR)/walctl; fi

# walctl is built after the library: a `cargo build -p walctl` unifies
# features differently from the library's build and rebuilds the library.
ifneq ($(wildcard walctl/Cargo.toml),)
install: walctl-release
endif
walctl-release:
	$(CARGO) build --release -p walctl

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/wal.h $(DESTDIR)$(INCDIR)/wal.hpp $(DESTDIR)$(LIBDIR)/libwal.a \
	      $(DESTDIR)$(LIBDIR)/libwal.so $(DESTDIR)$(LIBDIR)/libwal.so.$(MAJOR) \
	      $(DESTDIR)$(LIBDIR)/libwal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/pkgconfig/wal.pc \
	      $(DESTDIR)$(BINDIR)/walctl

test-install:
ifeq ($(shell command -v pkg-config),)
	@$(CHECK_SKIP) test-install pkg-config "apt-get install pkg-config"
else
	rm -rf $(INSTALL_TEST)
	$(MAKE) --no-print-directory install PREFIX=$(INSTALL_TEST)/prefix
	CC="$(CC)" CXX="$(CXX)" VERSION=$(VERSION) MAJOR=$(MAJOR) sh c_tests/cxx/test_install.sh $(INSTALL_TEST)
	$(MAKE) --no-print-directory uninstall PREFIX=$(INSTALL_TEST)/prefix
	@left=$$(find $(INSTALL_TEST)/prefix ! -type d); \
	  [ -z "$$left" ] || { echo "test-install: make uninstall left $$left" >&2; exit 1; }
	rm -rf $(INSTALL_TEST)
endif

CHECK_EXTRA += test-install
