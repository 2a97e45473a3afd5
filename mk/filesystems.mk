# make test-fs: the C suite and the crash tests again on xfs and btrfs, the
# file systems engines run on beside ext4, where fallocate, fdatasync,
# rename and unlink are implemented differently. Each gets a fresh sparse
# image under build/fs/, made with mkfs, loop-mounted, and is the TMPDIR of
# the programs test-c built (linked against libwal.so; the crash tests with
# FS_CRASH_ROUNDS rounds). The mount and the loop device are undone on every
# way out (mk/filesystems.sh). Needs root, mkfs.xfs (xfsprogs) and
# mkfs.btrfs (btrfs-progs); without them it says "skipped: ..." per file
# system. docs/reliability-hardening.md has the figures.
FS_TYPES        ?= xfs btrfs
FS_CRASH_ROUNDS ?= 10
# Headroom: btrfs at 512 MiB ran out of metadata space under the suite when
# segments were reserved whole (see the doc). Sparse: costs what is written.
FS_IMAGE_MB     ?= 4096
FS_PROGRAMS     := $(addprefix $(C_BUILT)/shared/,$(basename $(notdir $(wildcard c_tests/test_*.c c_tests/crash_*.c))))

.PHONY: test-fs
CHECK_EXTRA += test-fs

test-fs: test-c
	FS_IMAGE_MB=$(FS_IMAGE_MB) CRASH_ROUNDS=$(FS_CRASH_ROUNDS) \
	  sh mk/filesystems.sh $(BUILD)/fs "$(FS_TYPES)" $(FS_PROGRAMS)
