#!/usr/bin/env bash
# The pty floor: a bare C request/reply over a pty between two processes
# (bench/ptyfloor), against radio-cli bench to a radio-sim process, both in
# this run, with the same frame sizes (SetPower: 10 + 11 bytes on the wire).
# Prints both p50s and their ratio. Usage: scripts/pty-floor.sh [count]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5000}
cc -O2 -Wall -Wextra -o bench/ptyfloor/ptyfloor bench/ptyfloor/ptyfloor.c
swift build -c release --product radio-cli >/dev/null
swift build -c release --product radio-sim >/dev/null
bin=$(swift build -c release --show-bin-path)
link=$(mktemp -u /tmp/radio-floor.XXXXXX)
"$bin/radio-sim" --telemetry-hz 0 --link "$link" >/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null' EXIT
for _ in $(seq 50); do [ -e "$link" ] && break; sleep 0.1; done
floor=$(bench/ptyfloor/ptyfloor "$count" 10 11)
driver=$("$bin/radio-cli" bench --port "$link" --count "$count" --commands set-power --json)
python3 - "$floor" "$driver" <<'PY'
import json, sys
floor, driver = json.loads(sys.argv[1]), json.loads(sys.argv[2])
f, d = floor["p50_us"], driver["commands"]["set-power"]["p50_us"]
print(f"pty floor (C, two processes):       p50 {f:.1f} µs")
print(f"radio-cli -> radio-sim (SetPower):  p50 {d:.1f} µs")
print(f"ratio: {d / f:.2f}x (target: within 1.3x)")
PY
