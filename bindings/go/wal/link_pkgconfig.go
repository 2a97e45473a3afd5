//go:build libwal_pkgconfig

package wal

// With `-tags libwal_pkgconfig` the package builds against an installed
// libwal (`make install` puts wal.pc in $LIBDIR/pkgconfig); set
// PKG_CONFIG_PATH for a prefix pkg-config does not search.

// #cgo pkg-config: wal
import "C"
