#!/usr/bin/env bash
# Runs one test file (or one case of it, --grep) N times in a row while BUSY
# busy loops (`node -e 'for(;;);'`) keep the cores occupied, and prints each
# run's result line and the tally: for chasing a rare failure under load.
#   bench/loaded-loop.sh test/integration/redis-proxy-cut.test.ts 20 2 'a 3 s cut'
# Arguments: file, runs (20), busy loops (2), a --grep pattern (optional).
# LOOP_MATCH: a regex of the output lines to print per run; LOOP_KEEP=PREFIX keeps a failed
# run's whole output in PREFIX.runN.log.
set -u
file=$1; runs=${2:-20}; busy=${3:-2}; grep_for=${4:-}
match=${LOOP_MATCH:-'^\s*# [a-z]'}
pids=()
for _ in $(seq 1 "$busy"); do node -e 'for(;;);' & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
pass=0; fail=0
for i in $(seq 1 "$runs"); do
  args=(--disable-coverage -R tap "$file")
  [ -n "$grep_for" ] && args+=(--grep "$grep_for")
  out=$(npx tap "${args[@]}" 2>&1)
  if echo "$out" | grep -q '^# { total: [0-9]*, pass: ' && ! echo "$out" | grep -q '^# { total: .*fail'; then pass=$((pass + 1)); verdict=pass; else fail=$((fail + 1)); verdict=FAIL; fi
  if [ "$verdict" = FAIL ] && [ -n "${LOOP_KEEP:-}" ]; then echo "$out" > "$LOOP_KEEP.run$i.log"; fi
  echo "run $i: $verdict $(echo "$out" | grep -E "$match" | sed 's/^ *//' | tr '\n' ' ')"
done
echo "passed $pass of $runs, failed $fail (busy loops: $busy)"
