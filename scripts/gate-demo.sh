#!/usr/bin/env bash
# Shows that the regression gate can be trusted on this noisy machine:
#   1. on unchanged code, bench-check passes 5 runs out of 5;
#   2. with SetPower made 30 % slower (RADIO_BENCH_SLOWDOWN, which only this
#      script sets), it fails 5 runs out of 5.
# Each run is the whole fast suite, checked against performance-reports/baseline.json.
# Reports go to a scratch folder, so the project's history is untouched.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-5}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export RADIO_REPORT_DIR="$scratch"

trial() {  # label, slowdown spec or empty
  local passed=0 failed=0
  for i in $(seq "$runs"); do
    if [ -n "$2" ]; then export RADIO_BENCH_SLOWDOWN="$2"; else unset RADIO_BENCH_SLOWDOWN; fi
    scripts/performance-monitor.sh fast >"$scratch/run.log" 2>&1 || { echo "gate-demo: suite failed"; tail "$scratch/run.log"; exit 70; }
    if python3 scripts/perfreport.py check "$scratch/latest-fast.json" performance-reports/baseline.json >"$scratch/check.log" 2>&1; then
      passed=$((passed + 1)); verdict=pass
    else
      failed=$((failed + 1)); verdict=FAIL
    fi
    others=$(grep -E '^FAIL' "$scratch/check.log" | grep -vE ' SetPower/' | sed 's/  */ /g' | tr '\n' ';')
    echo "$1 run $i: $verdict ${others:+(also: $others)} $(grep -E '^(ok|FAIL) +SetPower/(loopback|pty): [0-9]' "$scratch/check.log" | sed 's/  */ /g' | tr '\n' ';')"
  done
  echo "$1: $passed passed, $failed failed"
  [ "$1" = unchanged ] && [ "$passed" -eq "$runs" ] && return 0
  [ "$1" = slowed ] && [ "$failed" -eq "$runs" ] && return 0
  return 1
}

ok=0
trial unchanged "" || ok=1
trial slowed '^SetPower/:1.3' || ok=1
if [ $ok -eq 0 ]; then echo "gate-demo: as expected ($runs/$runs passed unchanged, $runs/$runs failed slowed)"; fi
exit $ok
