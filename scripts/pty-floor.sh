#!/usr/bin/env bash
# The pty floor: a bare C request/reply over a pty between two processes
# (bench/ptyfloor), against radio-cli bench to a radio-sim process, with the
# same frame sizes (SetPower: 10 + 11 bytes on the wire), in interleaved
# pairs (floor, driver, floor, driver, ...) so that both see the same noise.
# Prints each pair's p50s and ratio, then the median ratio and its spread.
# Every process runs on one CPU (RADIO_BENCH_CPU, default the last, as the
# benchmark suite does): on this 2-vCPU VM, where the two processes of a
# round trip land moves a p50 by 2x from one run to the next (pinned, each
# round trip switches both processes on one CPU: the floor is then about
# 90 µs, against about 20 µs across CPUs). Pairs are
# short, so that both halves of a pair see the same host noise.
# Usage: scripts/pty-floor.sh [count] [pairs]   (defaults: 500 round trips, 15 pairs)
# RADIO_CLI=path measures another radio-cli build against the same floor.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-500}
pairs=${2:-15}
cpu=${RADIO_BENCH_CPU:-$(( $(nproc) - 1 ))}
pin="taskset -c $cpu"
[ "$cpu" = none ] && pin=""  # RADIO_BENCH_CPU=none: let the scheduler place them
cc -O2 -Wall -Wextra -o bench/ptyfloor/ptyfloor bench/ptyfloor/ptyfloor.c
swift build -c release --product radio-cli >/dev/null
swift build -c release --product radio-sim >/dev/null
bin=$(swift build -c release --show-bin-path)
link=$(mktemp -u /tmp/radio-floor.XXXXXX)
$pin "$bin/radio-sim" --telemetry-hz 0 --link "$link" >/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null' EXIT
for _ in $(seq 50); do [ -e "$link" ] && break; sleep 0.1; done
results=()
for i in $(seq "$pairs"); do
  floor=$($pin bench/ptyfloor/ptyfloor "$count" 10 11)
  driver=$($pin "${RADIO_CLI:-$bin/radio-cli}" bench --port "$link" --count "$count" --command set-power --json)
  results+=("$floor" "$driver")
done
python3 - "${results[@]}" <<'PY'
import json, statistics, sys
runs = [json.loads(a) for a in sys.argv[1:]]
ratios = []
for i in range(0, len(runs), 2):
    f, d = runs[i]["p50_us"], runs[i + 1]["commands"]["set-power"]["latency_us"]["p50"]
    ratios.append(d / f)
    print(f"pair {i // 2 + 1}: floor p50 {f:.1f} µs, radio-cli -> radio-sim (SetPower) p50 {d:.1f} µs, ratio {d / f:.2f}x")
q = statistics.quantiles(ratios, n=4) if len(ratios) >= 4 else [min(ratios), 0, max(ratios)]
print(f"median ratio: {statistics.median(ratios):.2f}x over {len(ratios)} pairs "
      f"(quartiles {q[0]:.2f}-{q[2]:.2f}x, range {min(ratios):.2f}-{max(ratios):.2f}x; target: 1.15x)")
PY
