#!/usr/bin/env bash
# Runs a benchmark suite and writes its reports:
#   scripts/performance-monitor.sh fast|slow
# fast: every push, under 30 s of benchmark time; slow: nightly, longer runs
# and the 50/100/500-subscriber publish benchmarks.
# Writes performance-reports/<mode>-<UTC>.json and .md, appends history.jsonl,
# redraws performance-reports/trends/*.svg, and copies the run to
# performance-reports/latest-<mode>.json for bench-check. RADIO_REPORT_DIR
# sends all of it elsewhere (the gate demonstration uses that).
set -euo pipefail
mode=${1:-}
case "$mode" in
  fast) skip='.*Subscribers_(50|100)|ReferenceAsyncStream/Subscribers_500' ;;
  slow) skip='NONE' ;;
  *) echo "usage: $0 fast|slow" >&2; exit 64 ;;
esac
cd "$(dirname "$0")/.."
scratch=.build-bench
swift=${SWIFT:-swift}
$swift build -c release --scratch-path "$scratch" --product radio-sim >/dev/null
export RADIO_BENCHMARKS=1 RADIO_BENCH_MODE=$mode
# Build on every CPU first; only the measuring runs pinned.
$swift build -c release --scratch-path "$scratch" >/dev/null
export RADIO_SIM="$PWD/$scratch/release/radio-sim"
# Every benchmark process pins itself to one CPU (RADIO_BENCH_CPU, default
# the last; BenchSettings.pinToConfiguredCPU): on this 2-vCPU VM, unpinned
# round trips land in thread placements 20-45 % apart from one process to
# the next. The benchmark tool and the build stay on every CPU.
export RADIO_BENCH_CPU=${RADIO_BENCH_CPU:-$(( $(nproc) - 1 ))}
tsv=$(mktemp -d)
trap 'rm -rf "$tsv"' EXIT
# Each gated sample's time over its same-run reference (BenchSupport/Paired.swift).
export RADIO_BENCH_RELATIVE_DIR="$tsv/relative"
mkdir -p "$RADIO_BENCH_RELATIVE_DIR"
start=$(date +%s)
$swift package --scratch-path "$scratch" --allow-writing-to-directory "$tsv" benchmark \
  --skip "$skip" --format histogramPercentiles --path "$tsv" --no-progress >"$tsv/run.log" 2>&1 || {
  tail -n 30 "$tsv/run.log" >&2; echo "performance-monitor: benchmark run failed" >&2; exit 70; }
echo "performance-monitor: $mode suite ran in $(( $(date +%s) - start )) s (build included), measured on CPU $RADIO_BENCH_CPU"
python3 scripts/perfreport.py report "$mode" "$tsv" "${RADIO_REPORT_DIR:-performance-reports}"
