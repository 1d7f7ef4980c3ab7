#!/usr/bin/env bash
# What `radio-cli list` costs, by hyperfine over whole commands (release
# build), against `radio-cli list --help` (process start, no I/O) measured
# in the same run: listing every port (udev, /proc), probing a radio-sim
# behind a pty, probing one silent pty, and probing eight at once (the
# probes run in parallel, so eight silent ports should cost one deadline).
# Prints the median of each and its excess over the start-up reference.
#
#   scripts/probe-bench.sh [RUNS]      (make bench-probe)
set -euo pipefail
runs=${1:-40}
command -v hyperfine >/dev/null || { echo "probe-bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 69; }
swift build -c release >/dev/null
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

"$bin/radio-sim" --link "$work/sim" --telemetry-hz 0 > "$work/sim.out" &
# Eight ptys whose far end never answers (their masters held by python).
python3 -c '
import os, pty, sys, time
names = []
keep = []
for _ in range(8):
    m, s = pty.openpty(); names.append(os.ttyname(s)); os.close(s); keep.append(m)
print(" ".join(names), flush=True)
time.sleep(3600)
' > "$work/silent" &
for _ in $(seq 100); do [ -s "$work/sim.out" ] && [ -s "$work/silent" ] && break; sleep 0.05; done
read -r -a silent < "$work/silent"

hyperfine -N --warmup 3 --runs "$runs" -i --export-json "$work/result.json" \
  -n "start-up reference (list --help)" "$bin/radio-cli list --help" \
  -n "list --all" "$bin/radio-cli list --all" \
  -n "list --probe (radio-sim)" "$bin/radio-cli list --probe $work/sim" \
  -n "list --probe (1 silent pty)" "$bin/radio-cli list --probe ${silent[0]}" \
  -n "list --probe (8 silent ptys)" "$bin/radio-cli list --probe ${silent[*]}" > /dev/null

python3 - "$work/result.json" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
ref = results[0]["median"]
print(f"{'command':34} {'median ms':>10} {'q1-q3 ms':>14} {'over start-up':>14}")
for r in results:
    times = sorted(r["times"])
    q1, q3 = times[len(times) // 4], times[(3 * len(times)) // 4]
    print(f"{r['command']:34} {r['median'] * 1000:10.1f} {q1 * 1000:6.1f}-{q3 * 1000:<6.1f} {(r['median'] - ref) * 1000:13.1f}")
PY
