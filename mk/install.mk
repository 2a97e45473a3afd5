# Install: `make install PREFIX=...` (DESTDIR honoured), `make uninstall`.
install: lib
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/wal.h $(DESTDIR)$(INCDIR)/wal.h
	install -m 644 $(REL)/libwal.a $(DESTDIR)$(LIBDIR)/libwal.a
	install -m 755 $(REL)/libwal.so $(DESTDIR)$(LIBDIR)/libwal.so.$(VERSION)
	ln -sf libwal.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libwal.so.$(MAJOR)
	ln -sf libwal.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/libwal.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@STATIC_LIBS@|$(STATIC_LIBS)|' \
	    wal.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/wal.pc

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/wal.h $(DESTDIR)$(LIBDIR)/libwal.a $(DESTDIR)$(LIBDIR)/libwal.so* \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/wal.pc
