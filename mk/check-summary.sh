#!/bin/sh
# What `make check` ran, what failed and what it skipped, in one file
# ($CHECK_SUMMARY, build/check-summary by default), one line each:
#   passed<TAB>TARGET   failed<TAB>TARGET   skipped<TAB>NAME<TAB>REASON
# NAME is a check target (test-go) when all of it was skipped, or
# TARGET:PART (test-hpp:clang++) when one part of it was.
#
#   check-summary.sh skip NAME TOOL [HINT]  prints "skipped: TOOL is not installed"
#                                           and records it; the caller goes on
#   check-summary.sh reset                  empties the file (make check's start)
#   check-summary.sh passed|failed TARGET   records how a check target ended
#   check-summary.sh print TARGET...        prints the summary; exits 1 if a
#                                           target failed or did not run, or
#                                           when CI=true and anything was skipped
set -eu
file=${CHECK_SUMMARY:-build/check-summary}
tab=$(printf '\t')

has() { grep -q "^$1$tab$2\($tab\|\$\)" "$file"; }

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
passed|failed)
    printf '%s\t%s\n' "$1" "$2" >> "$file"
    ;;
print)
    shift
    [ -f "$file" ] || : > "$file"
    passed="" failed="" skipped="" notrun=""
    for t in "$@"; do
        if has failed "$t"; then failed="$failed $t"
        elif has skipped "$t"; then skipped="$skipped $t"
        elif has passed "$t"; then passed="$passed $t"
        else notrun="$notrun $t"; fi
    done
    count() { set -- $1; echo $#; }
    echo
    echo "check summary: $(count "$passed") passed, $(count "$failed") failed," \
         "$(count "$skipped") skipped, $(count "$notrun") not run"
    [ -z "$passed" ] || echo "  passed:$passed"
    [ -z "$failed" ] || echo "  FAILED:$failed"
    [ -z "$notrun" ] || echo "  not run (after a failure):$notrun"
    grep "^skipped$tab" "$file" | sort -u | while IFS="$tab" read -r _ name reason; do
        case $name in
        *:*) echo "  skipped part ${name#*:} of ${name%%:*}: $reason" ;;
        *)   echo "  skipped $name: $reason" ;;
        esac
    done
    [ -z "$failed$notrun" ] || exit 1
    if [ "${CI:-}" = true ] && grep -q "^skipped$tab" "$file"; then
        echo "CI=true: a skipped test is a failure; .ci/run installs every tool (.ci/apt-packages)"
        exit 1
    fi
    ;;
*)
    echo "usage: $0 skip NAME TOOL [HINT] | reset | passed|failed TARGET | print TARGET..." >&2
    exit 2
    ;;
esac
