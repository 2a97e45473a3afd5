#!/bin/sh
# Runs test programs on other file systems than the one build/ is on.
#
#   filesystems.sh WORKDIR "TYPE..." PROGRAM...
#
# For each TYPE (xfs, btrfs): a sparse image of FS_IMAGE_MB MiB (4096) at
# WORKDIR/TYPE.img, made with mkfs.TYPE, attached to a loop device and
# mounted on WORKDIR/TYPE, is the TMPDIR of the programs (c_tests/run.sh
# runs them). The mount, the loop device and the image are undone on every
# way out, and what an earlier run killed before it could undo is undone
# first. Needs root and mkfs.TYPE: without them a TYPE is skipped with one
# line, "skipped: ...". Exits non-zero when a program failed on any TYPE.
set -u
work=$1 types=$2
shift 2
mkdir -p "$work" || exit 1
work=$(cd "$work" && pwd) || exit 1

# Unmounts and detaches whatever an earlier run left of TYPE.
undo_stale() {
    if grep -q " $work/$1 " /proc/mounts; then
        echo "test-fs: unmounting $work/$1, left by an earlier run"
        umount "$work/$1" || umount -l "$work/$1"
    fi
    for dev in $(losetup -j "$work/$1.img" -O NAME -n 2>/dev/null); do
        echo "test-fs: detaching $dev, left by an earlier run"
        losetup -d "$dev"
    done
}

# The programs on a fresh TYPE file system; runs in a subshell of its own,
# whose EXIT trap undoes the mount and the loop device.
run_on() (
    fs=$1
    shift
    img=$work/$fs.img mnt=$work/$fs dev="" mounted=""
    cleanup() {
        if [ -n "$mounted" ]; then
            # A program killed with us may hold a file open for a moment.
            tries=0
            until umount "$mnt" 2>/dev/null; do
                tries=$((tries + 1))
                if [ $tries -ge 10 ]; then
                    echo "test-fs: $mnt stays busy: lazy unmount" >&2
                    umount -l "$mnt"
                    break
                fi
                sleep 0.5
            done
        fi
        [ -z "$dev" ] || losetup -d "$dev" || echo "test-fs: losetup -d $dev failed" >&2
        rm -f "$img"
    }
    trap cleanup EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    undo_stale "$fs"
    rm -f "$img" && mkdir -p "$mnt" && truncate -s "${FS_IMAGE_MB:-4096}M" "$img" || exit 1
    mkfs."$fs" -q -f "$img" >/dev/null || { echo "test-fs: mkfs.$fs $img failed" >&2; exit 1; }
    # Direct I/O: the image's pages are not cached a second time on the
    # host, and a flush goes to the disk as it would on a real device.
    dev=$(losetup --direct-io=on --find --show "$img") || exit 1
    mount "$dev" "$mnt" || exit 1
    mounted=1
    echo "test-fs: $fs on $dev at $mnt ($(uname -r), $(mkfs."$fs" -V 2>&1 | head -n1))"
    TMPDIR=$mnt sh c_tests/run.sh "$@"
    ok=$?
    echo "test-fs: $fs: the image took $(du -m "$img" | cut -f1) MiB of build/'s disk"
    exit $ok
)

# A signal ends the run once the file system in use is undone.
status=0 signal=""
trap 'signal=129' HUP
trap 'signal=130' INT
trap 'signal=143' TERM
for fs in $types; do
    case $fs in
    xfs) pkg=xfsprogs ;;
    btrfs) pkg=btrfs-progs ;;
    *) pkg="" ;;
    esac
    if [ "$(id -u)" != 0 ]; then
        echo "skipped: not root (test-fs:$fs: loop mounts need root)"
    elif ! command -v "mkfs.$fs" >/dev/null 2>&1; then
        echo "skipped: mkfs.$fs is not installed (test-fs:$fs${pkg:+; apt-get install $pkg})"
    else
        start=$(date +%s)
        run_on "$fs" "$@" || status=1
        [ -z "$signal" ] || exit "$signal"
        echo "test-fs: $fs took $(($(date +%s) - start)) s"
    fi
done
exit $status
