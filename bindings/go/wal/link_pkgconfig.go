//go:build !libwal_checkout

package wal

// By default the package builds against an installed libwal, found through
// pkg-config: `make install PREFIX=...` puts wal.pc in $LIBDIR/pkgconfig;
// set PKG_CONFIG_PATH for a prefix pkg-config does not search. wal.pc
// carries an rpath to its libdir when that is not one of the system's
// library directories, so programs find libwal.so at run time without
// LD_LIBRARY_PATH (see doc.go, Building).

// #cgo pkg-config: wal
import "C"
