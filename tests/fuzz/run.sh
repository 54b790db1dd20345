#!/bin/bash
# tests/fuzz/run.sh - `make fuzz`: runs every libFuzzer harness of a
# MW_FUZZ build for FUZZ_SECONDS each (default 60), first on its
# regression inputs, then fuzzing from its seed corpus plus what earlier
# runs found (kept in $BUILD/tests/fuzz/corpus/<name>, never in the
# sources). Prints executions and crashes per harness; a crash input is
# left in $BUILD/tests/fuzz/artifacts/<name>/ (copy it to
# tests/fuzz/regressions/<name>/ once fixed). Exits non-zero when any
# harness crashed. FUZZ_ONLY="json doc" limits the run to some harnesses.
set -u
BUILD=${BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
SRC=$(cd "$(dirname "$0")" && pwd)
BIN=$BUILD/tests/fuzz
if ! ls "$BIN"/fuzz_* >/dev/null 2>&1; then
  echo "fuzz: no harnesses in $BIN (run make build-fuzz)" >&2
  exit 1
fi
failed=0
total_execs=0
printf '%-14s %12s %10s %8s  %s\n' harness executions exec/s crashes result
for bin in "$BIN"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=${bin##*/fuzz_}
  if [ -n "${FUZZ_ONLY:-}" ] && ! [[ " $FUZZ_ONLY " == *" $name "* ]]; then
    continue
  fi
  work=$BIN/corpus/$name
  art=$BIN/artifacts/$name
  mkdir -p "$work" "$art"
  log=$BIN/fuzz-$name.log
  before=$(ls "$art" | wc -l)
  result=ok
  if [ -d "$SRC/regressions/$name" ] &&
     ! "$bin" -runs=0 -rss_limit_mb=2048 -timeout=10 "$SRC/regressions/$name" \
       >"$log.regressions" 2>&1; then
    result="regression input fails (see $log.regressions)"
  fi
  "$bin" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=10 \
    -max_len=8192 -print_final_stats=1 -dict="$SRC/fuzz.dict" -artifact_prefix="$art/" \
    "$work" "$SRC/corpus/$name" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  crashes=$(( $(ls "$art" | wc -l) - before ))
  if [ "$rc" -ne 0 ]; then
    why=$(grep -a -m1 -E 'ERROR: |runtime error|invariant failed|payload:' "$log" |
          cut -c1-120)
    result="CRASH (rc $rc): $why -> $art/"
  fi
  [ "$result" = ok ] || failed=1
  total_execs=$(( total_execs + ${execs:-0} ))
  printf '%-14s %12s %10s %8s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "$crashes" \
    "$result"
done
echo "total executions: $total_execs"
exit $failed
