#!/bin/sh
# Runs each C test binary given as an argument and prints one summary line.
# A test binary exits 0 when all its checks pass. The C suite is built and
# run by tests/c_suite/ (cargo test); this runs the programs it left in
# build/ctests/ again elsewhere (mk/filesystems.sh).
passed=0; failed=0; failures=""
for t in "$@"; do
  start=$(date +%s)
  if "$t"; then
    passed=$((passed + 1)); echo "PASS $t ($(( $(date +%s) - start ))s)"
  else
    failed=$((failed + 1)); failures="$failures $t"; echo "FAIL $t"
  fi
done
[ -n "$failures" ] && echo "failed:$failures"
echo "ctests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
