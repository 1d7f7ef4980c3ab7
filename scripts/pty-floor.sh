#!/usr/bin/env bash
# The pty floor: a bare C request/reply over a pty between two processes
# (bench/ptyfloor), against radio-cli bench to a radio-sim process, with the
# same frame sizes (SetPower: 10 + 11 bytes on the wire), in interleaved
# pairs (floor, driver, floor, driver, ...) so that both see the same noise.
# Prints each pair's p50s and ratio, then the median ratio and its spread.
# Usage: scripts/pty-floor.sh [count] [pairs]   (defaults: 3000 round trips, 7 pairs)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-3000}
pairs=${2:-7}
cc -O2 -Wall -Wextra -o bench/ptyfloor/ptyfloor bench/ptyfloor/ptyfloor.c
swift build -c release --product radio-cli >/dev/null
swift build -c release --product radio-sim >/dev/null
bin=$(swift build -c release --show-bin-path)
link=$(mktemp -u /tmp/radio-floor.XXXXXX)
"$bin/radio-sim" --telemetry-hz 0 --link "$link" >/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null' EXIT
for _ in $(seq 50); do [ -e "$link" ] && break; sleep 0.1; done
results=()
for i in $(seq "$pairs"); do
  floor=$(bench/ptyfloor/ptyfloor "$count" 10 11)
  driver=$("$bin/radio-cli" bench --port "$link" --count "$count" --commands set-power --json)
  results+=("$floor" "$driver")
done
python3 - "${results[@]}" <<'PY'
import json, statistics, sys
runs = [json.loads(a) for a in sys.argv[1:]]
ratios = []
for i in range(0, len(runs), 2):
    f, d = runs[i]["p50_us"], runs[i + 1]["commands"]["set-power"]["p50_us"]
    ratios.append(d / f)
    print(f"pair {i // 2 + 1}: floor p50 {f:.1f} µs, radio-cli -> radio-sim (SetPower) p50 {d:.1f} µs, ratio {d / f:.2f}x")
print(f"median ratio: {statistics.median(ratios):.2f}x over {len(ratios)} pairs "
      f"(spread {min(ratios):.2f}-{max(ratios):.2f}x; target: 1.15x)")
PY
