# `make install PREFIX=...` (DESTDIR honoured) installs, under PREFIX:
#   lib/libwal.so.VERSION    stripped; its debug info split off into
#                            lib/.debug/libwal.so.VERSION.debug, which gdb
#                            finds through the .gnu_debuglink it names
#   lib/libwal.so.SOVER      (the soname: 0.MINOR while MAJOR is 0) -> libwal.so.VERSION,
#   lib/libwal.so            -> libwal.so.SOVER
#   lib/libwal.a             without debug info or LLVM bitcode
#   lib/pkgconfig/wal.pc     relative to its own place, so the tree can move
#   include/wal.h, include/wal.hpp
#   bin/walctl               when its crate is there; stripped the same way,
#                            its debug info in bin/.debug/walctl.debug
# `make uninstall` removes them. `make test-install` (in make check) installs
# into a prefix under build/, builds programs against it with pkg-config
# (shared, static, fully -static), moves the tree and builds again, then
# uninstalls.
BINDIR       ?= $(PREFIX)/bin
OBJCOPY      ?= objcopy
STRIP        ?= strip
# wal.pc's Libs carry -Wl,-rpath,${libdir} unless LIBDIR is one the run-time
# loader searches by itself (/lib..., /usr/lib...), so that programs linked
# through pkg-config (Go's `#cgo pkg-config: wal` among them, which cannot
# add an rpath of its own) start without LD_LIBRARY_PATH. PC_RPATH= leaves
# it out.
comma        := ,
PC_RPATH     ?= $(if $(filter /lib /lib/% /lib64 /usr/lib /usr/lib/% /usr/lib64,$(LIBDIR)),,-Wl$(comma)-rpath$(comma)$${libdir} )
INSTALL_TEST := $(abspath $(BUILD))/install-test
STAGE        := $(BUILD)/stage

# wal.pc: when LIBDIR and INCDIR lie inside PREFIX, prefix is found from the
# file's own place (pkg-config's ${pcfiledir}: ../.. from lib/pkgconfig) and
# the other directories hang off ${prefix}, so a copied or moved tree works
# without editing it. A LIBDIR or INCDIR outside PREFIX is written as is, and
# so is everything with PC_RELOCATABLE=0 (for a distribution's /usr, where
# pkg-config drops -I/usr/include only when it is spelled so).
PC_RELOCATABLE ?= 1
pc_empty  :=
pc_space  := $(pc_empty) $(pc_empty)
pc_under  = $(filter $(PREFIX)/%,$(1))
pc_rel    = $(patsubst $(PREFIX)/%,%,$(1))
pc_dir    = $(if $(and $(filter 1,$(PC_RELOCATABLE)),$(call pc_under,$(1))),$${prefix}/$(call pc_rel,$(1)),$(1))
PC_UP     := $(subst $(pc_space),/,$(foreach d,$(subst /, ,$(call pc_rel,$(LIBDIR))/pkgconfig),..))
PC_PREFIX := $(if $(and $(filter 1,$(PC_RELOCATABLE)),$(call pc_under,$(LIBDIR))),$${pcfiledir}/$(PC_UP),$(PREFIX))
PC_LIBDIR := $(call pc_dir,$(LIBDIR))
PC_INCDIR := $(call pc_dir,$(INCDIR))

# split_debug IN, OUT: OUT is IN without debug info or the symbol table (the
# dynamic symbols stay); OUT.debug holds them, and OUT names it in its
# .gnu_debuglink (with its CRC).
split_debug = $(OBJCOPY) --only-keep-debug $(1) $(2).debug && chmod 644 $(2).debug && \
    $(OBJCOPY) --strip-unneeded --remove-section=.comment --add-gnu-debuglink=$(2).debug $(1) $(2)

.PHONY: install uninstall walctl-release test-install stage-lib

# The installed files are made under build/stage first, from target/release.
stage-lib: lib
	rm -rf $(STAGE) && mkdir -p $(STAGE)
	$(call split_debug,$(REL)/libwal.so,$(STAGE)/libwal.so.$(VERSION))
	$(STRIP) --strip-debug --enable-deterministic-archives --remove-section=.llvmbc \
	    --remove-section=.llvmcmd -o $(STAGE)/libwal.a $(REL)/libwal.a
	sed -e 's|@PREFIX@|$(PC_PREFIX)|' -e 's|@LIBDIR@|$(PC_LIBDIR)|' -e 's|@INCDIR@|$(PC_INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@STATIC_LIBS@|$(STATIC_LIBS)|' -e 's|@RPATH@|$(PC_RPATH)|' \
	    wal.pc.in > $(STAGE)/wal.pc
	if [ -f $(REL)/walctl ]; then $(call split_debug,$(REL)/walctl,$(STAGE)/walctl); fi

stage-lib: $(NATIVE_LIBS)

install: stage-lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(LIBDIR)/.debug $(DESTDIR)$(INCDIR)
	install -m 644 include/wal.h include/wal.hpp $(DESTDIR)$(INCDIR)/
	install -m 644 $(STAGE)/libwal.a $(DESTDIR)$(LIBDIR)/libwal.a
	install -m 755 $(STAGE)/libwal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libwal.so.$(VERSION)
	install -m 644 $(STAGE)/libwal.so.$(VERSION).debug $(DESTDIR)$(LIBDIR)/.debug/
	ln -sf libwal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libwal.so.$(SOVER)
	ln -sf libwal.so.$(SOVER) $(DESTDIR)$(LIBDIR)/libwal.so
	install -m 644 $(STAGE)/wal.pc $(DESTDIR)$(LIBDIR)/pkgconfig/wal.pc
	if [ -f $(STAGE)/walctl ]; then \
	  install -d $(DESTDIR)$(BINDIR)/.debug && install -m 755 $(STAGE)/walctl $(DESTDIR)$(BINDIR)/walctl && \
	  install -m 644 $(STAGE)/walctl.debug $(DESTDIR)$(BINDIR)/.debug/; fi

# walctl is built after the library: a `cargo build -p walctl` unifies
# features differently from the library's build and rebuilds the library.
ifneq ($(wildcard walctl/Cargo.toml),)
stage-lib: walctl-release
endif
walctl-release:
	$(CARGO) build --release -p walctl

# The .debug directories go too when nothing else is left in them.
uninstall:
	rm -f $(DESTDIR)$(INCDIR)/wal.h $(DESTDIR)$(INCDIR)/wal.hpp $(DESTDIR)$(LIBDIR)/libwal.a \
	      $(DESTDIR)$(LIBDIR)/libwal.so $(DESTDIR)$(LIBDIR)/libwal.so.$(SOVER) \
	      $(DESTDIR)$(LIBDIR)/libwal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/.debug/libwal.so.$(VERSION).debug \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/wal.pc $(DESTDIR)$(BINDIR)/walctl $(DESTDIR)$(BINDIR)/.debug/walctl.debug
	-rmdir $(DESTDIR)$(LIBDIR)/.debug $(DESTDIR)$(BINDIR)/.debug 2>/dev/null

test-install:
ifeq ($(shell command -v pkg-config),)
	@$(CHECK_SKIP) test-install pkg-config "apt-get install pkg-config"
else
	rm -rf $(INSTALL_TEST)
	$(MAKE) --no-print-directory install PREFIX=$(INSTALL_TEST)/prefix
	CC="$(CC)" CXX="$(CXX)" VERSION=$(VERSION) SOVER=$(SOVER) sh c_tests/cxx/test_install.sh $(INSTALL_TEST)
	$(MAKE) --no-print-directory uninstall PREFIX=$(INSTALL_TEST)/prefix
	@left=$$(find $(INSTALL_TEST)/prefix ! -type d); \
	  [ -z "$$left" ] || { echo "test-install: make uninstall left $$left" >&2; exit 1; }
	rm -rf $(INSTALL_TEST)
endif

CHECK_EXTRA += test-install
