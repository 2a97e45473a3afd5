#!/bin/sh
# make bench-fs: the bench's W1, W3 and W4-W7 on other file systems.
#
#   bench/fs.sh WORKDIR "TYPE..." BENCH OUTPREFIX
#
# For each TYPE (xfs, btrfs, ext4): an image of BENCH_FS_IMAGE_MB MiB (4096: RocksDB
# fallocates 2.4 GB for its WAL, 1.1x its 2 GiB memtable)
# at WORKDIR/TYPE.img, written with zeros first (not sparse: no write in the
# run allocates space in the file system the image lives on), attached to a
# loop device with direct I/O (the image's pages are not cached a second
# time, and a flush goes to the disk), made with mkfs.TYPE without
# discarding (which would punch the image sparse again), mounted without
# online discard, and given to BENCH (build/bench) as BENCH_DIR, with
# BENCH_ONLY=w1,w3,bulk and BENCH_OUT=OUTPREFIX-TYPE (so OUTPREFIX-TYPE.md).
# The mount, the loop device and the image are undone on every way out
# (the same way as mk/filesystems.sh for test-fs). Needs root and
# mkfs.TYPE: without them a TYPE is skipped with one line, "skipped: ...".
# Exits non-zero when a run failed on any TYPE.
set -u
work=$1 types=$2 bench=$3 outprefix=$4
mkdir -p "$work" || exit 1
work=$(cd "$work" && pwd) || exit 1

undo_stale() {
    if grep -q " $work/$1 " /proc/mounts; then
        echo "bench-fs: unmounting $work/$1, left by an earlier run"
        umount "$work/$1" || umount -l "$work/$1"
    fi
    for dev in $(losetup -j "$work/$1.img" -O NAME -n 2>/dev/null); do
        echo "bench-fs: detaching $dev, left by an earlier run"
        losetup -d "$dev"
    done
}

run_on() (
    fs=$1
    img=$work/$fs.img mnt=$work/$fs dev="" mounted=""
    cleanup() {
        if [ -n "$mounted" ]; then
            tries=0
            until umount "$mnt" 2>/dev/null; do
                tries=$((tries + 1))
                if [ $tries -ge 10 ]; then
                    echo "bench-fs: $mnt stays busy: lazy unmount" >&2
                    umount -l "$mnt"
                    break
                fi
                sleep 0.5
            done
        fi
        [ -z "$dev" ] || losetup -d "$dev" || echo "bench-fs: losetup -d $dev failed" >&2
        rm -f "$img"
    }
    trap cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    undo_stale "$fs"
    mb=${BENCH_FS_IMAGE_MB:-4096}
    rm -f "$img" && mkdir -p "$mnt" || exit 1
    dd if=/dev/zero of="$img" bs=1M count="$mb" conv=fsync status=none || { echo "bench-fs: writing $img failed" >&2; exit 1; }
    case $fs in
    xfs) mkfs.xfs -q -f -K "$img" ;;
    btrfs) mkfs.btrfs -q -f -K "$img" >/dev/null ;;
    ext4) mkfs.ext4 -q -F -E nodiscard "$img" ;;
    *) echo "bench-fs: no mkfs options for $fs" >&2; exit 1 ;;
    esac || { echo "bench-fs: mkfs.$fs $img failed" >&2; exit 1; }
    dev=$(losetup --direct-io=on --find --show "$img") || exit 1
    case $fs in
    btrfs) opts=nodiscard ;;
    *) opts=defaults ;;
    esac
    mount -o "$opts" "$dev" "$mnt" || exit 1
    mounted=1
    echo "bench-fs: $fs on $dev at $mnt, a $mb MiB image on $(df --output=source "$work" | tail -n1) ($(uname -r), $(mkfs."$fs" -V 2>&1 | head -n1))"
    BENCH_DIR=$mnt BENCH_OUT=$outprefix-$fs BENCH_ONLY=${BENCH_FS_ONLY:-w1,w3,bulk} "$bench"
)

status=0 signal=""
trap 'signal=129' HUP
trap 'signal=130' INT
trap 'signal=143' TERM
for fs in $types; do
    case $fs in
    xfs) pkg=xfsprogs ;;
    btrfs) pkg=btrfs-progs ;;
    ext4) pkg=e2fsprogs ;;
    *) pkg="" ;;
    esac
    rm -f "$outprefix-$fs.md"
    if [ "$(id -u)" != 0 ]; then
        echo "skipped: not root (bench-fs:$fs: loop mounts need root)"
    elif ! command -v "mkfs.$fs" >/dev/null 2>&1; then
        echo "skipped: mkfs.$fs is not installed (bench-fs:$fs${pkg:+; apt-get install $pkg})"
    else
        start=$(date +%s)
        run_on "$fs" || status=1
        [ -z "$signal" ] || exit "$signal"
        echo "bench-fs: $fs took $(($(date +%s) - start)) s"
    fi
done
exit $status
