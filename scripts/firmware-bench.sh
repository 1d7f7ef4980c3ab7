#!/usr/bin/env bash
# Round trips through QEMU's emulated UART to the reference firmware, next to
# radio-sim's pty and the bare C pty floor (bench/ptyfloor), measured in the
# same run in interleaved rounds (floor, radio-sim, firmware, floor, ...) so
# that all three see the same host noise. Unpinned: QEMU runs a vCPU thread
# and an I/O thread of its own. The firmware keeps its 10 Hz telemetry on,
# as the board would; radio-sim runs with telemetry off.
# Prints each round's p50s, then the medians over the rounds.
# Usage: scripts/firmware-bench.sh [count] [rounds]   (defaults: 500 round trips, 7 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-500}
rounds=${2:-7}
make -s firmware >/dev/null
clang -O2 -Wall -Wextra -o bench/ptyfloor/ptyfloor bench/ptyfloor/ptyfloor.c
swift build -c release --product radio-cli >/dev/null
swift build -c release --product radio-sim >/dev/null
bin=$(swift build -c release --show-bin-path)
simlink=$(mktemp -u /tmp/radio-sim.XXXXXX)
fwlink=$(mktemp -u /tmp/radio-fw.XXXXXX)
"$bin/radio-sim" --telemetry-hz 0 --link "$simlink" >/dev/null & sim=$!
"$bin/radio-sim" --firmware .build/firmware/radio-fw.elf --link "$fwlink" >/dev/null & fw=$!
trap 'kill $sim $fw 2>/dev/null; wait $sim $fw 2>/dev/null' EXIT
for _ in $(seq 100); do [ -e "$simlink" ] && [ -e "$fwlink" ] && break; sleep 0.1; done
results=()
for _ in $(seq "$rounds"); do
  results+=("$(bench/ptyfloor/ptyfloor "$count" 10 11)")
  results+=("$("$bin/radio-cli" bench --port "$simlink" --count "$count" --command set-power,set-channel --json)")
  results+=("$("$bin/radio-cli" bench --port "$fwlink" --count "$count" --command set-power,set-channel --json)")
done
python3 - "${results[@]}" <<'PY'
import json, statistics, sys
runs = [json.loads(a) for a in sys.argv[1:]]
floor, sim, fw = runs[0::3], runs[1::3], runs[2::3]
def p(run, cmd, key): return run["commands"][cmd]["latency_us"][key]
print("round  floor p50   radio-sim SetPower p50   firmware SetPower p50   firmware SetChannel p50  (µs)")
for i, (a, b, c) in enumerate(zip(floor, sim, fw), 1):
    print(f"{i:5}  {a['p50_us']:9.1f}   {p(b,'set-power','p50'):22.1f}   {p(c,'set-power','p50'):21.1f}   {p(c,'set-channel','p50'):23.1f}")
med = statistics.median
print()
print(f"median over {len(fw)} rounds of {fw[0]['count']} round trips each (µs):")
print(f"  C pty floor (SetPower-sized)      p50 {med(a['p50_us'] for a in floor):7.1f}")
for name, group in (("radio-sim pty", sim), ("firmware in QEMU", fw)):
    for cmd in ("set-power", "set-channel"):
        print(f"  {name + ' ' + cmd:34} p50 {med(p(r,cmd,'p50') for r in group):7.1f}   p99 {med(p(r,cmd,'p99') for r in group):7.1f}")
ratios = [p(c,'set-power','p50') / p(b,'set-power','p50') for b, c in zip(sim, fw)]
print(f"  firmware / radio-sim SetPower p50: median ratio {med(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})")
PY
