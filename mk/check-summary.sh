#!/bin/sh
# What `make check` ran and what it skipped, in one file ($CHECK_SUMMARY,
# build/check-summary by default), one line per skip:
#   skipped<TAB>NAME<TAB>REASON
# NAME is a check target (test-go) when all of it was skipped, or
# TARGET:PART (test-hpp:clang++) when one part of it was.
#
#   check-summary.sh skip NAME TOOL [HINT]  prints "skipped: TOOL is not installed"
#                                           and records it; the caller goes on
#   check-summary.sh reset                  empties the file (make check's start)
#   check-summary.sh print STATUS TARGET... prints what ran and what was skipped
#                                           and exits non-zero when STATUS is, or
#                                           when CI=true and anything was skipped
set -eu
file=${CHECK_SUMMARY:-build/check-summary}
tab=$(printf '\t')

case ${1:-} in
skip)
    name=$2 tool=$3 hint=${4:-}
    reason="$tool is not installed"
    echo "skipped: $reason ($name${hint:+; $hint})"
    [ "${CI:-}" = true ] && echo "skipped: CI=true: make check will fail for this skip"
    mkdir -p "$(dirname "$file")"
    printf 'skipped\t%s\t%s\n' "$name" "$reason" >> "$file"
    ;;
reset)
    mkdir -p "$(dirname "$file")"
    : > "$file"
    ;;
print)
    status=$2; shift 2
    [ -f "$file" ] || : > "$file"
    ran="" nran=0 nskipped=0
    for target in "$@"; do
        if grep -q "^skipped$tab$target$tab" "$file"; then
            nskipped=$((nskipped + 1))
        else
            ran="$ran $target"; nran=$((nran + 1))
        fi
    done
    parts=$(grep -c "^skipped$tab[^$tab]*:" "$file" || true)
    echo
    if [ "$status" -ne 0 ]; then
        echo "make check FAILED (exit status $status): see the first error above"
        echo "check summary: skipped so far: $nskipped targets, $parts parts"
    else
        echo "check summary: $nran targets ran, $nskipped skipped; $parts parts of targets that ran were skipped"
        echo "  ran:$ran"
    fi
    sort -u "$file" | while IFS="$tab" read -r _ name reason; do
        case $name in
        *:*) echo "  skipped part ${name#*:} of ${name%%:*}: $reason" ;;
        *)   echo "  skipped $name: $reason" ;;
        esac
    done
    [ "$status" -eq 0 ] || exit "$status"
    if [ "${CI:-}" = true ] && [ -s "$file" ]; then
        echo "CI=true: a skipped test is a failure; .ci/run installs every tool (.ci/apt-packages)"
        exit 1
    fi
    ;;
*)
    echo "usage: $0 skip NAME TOOL [HINT] | reset | print STATUS TARGET..." >&2
    exit 2
    ;;
esac
