#!/usr/bin/env bash
# Commands per second against radio-sim's pty (release build): N commands
# through one `radio-cli shell` on a pipe, against N/10 radio-cli processes
# (one command each), alternated ROUNDS times in the same run; medians.
# Usage: scripts/shell-bench.sh [rounds] [commands through the shell]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
n=${2:-2000}
swift build -c release --product radio-cli >/dev/null
swift build -c release --product radio-sim >/dev/null
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d /tmp/radio-shell-bench.XXXXXX)
"$bin/radio-sim" --telemetry-hz 0 --link "$work/radio" >/dev/null &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -e "$work/radio" ] && break; sleep 0.1; done
for i in $(seq "$n"); do
  if [ $((i % 2)) = 0 ]; then echo "get-state"; else echo "set-power $(( (i % 200) / 10 )).$(( i % 10 ))"; fi
done >"$work/commands"
per_process=$((n / 10))
: >"$work/rows"
for r in $(seq "$rounds"); do
  t0=$(date +%s.%N)
  "$bin/radio-cli" shell --port "$work/radio" <"$work/commands" >/dev/null
  t1=$(date +%s.%N)
  head -n "$per_process" "$work/commands" | while read -r cmd; do "$bin/radio-cli" $cmd --port "$work/radio" >/dev/null; done
  t2=$(date +%s.%N)
  echo "$r $t0 $t1 $t2" >>"$work/rows"
done
python3 - "$work/rows" "$n" "$per_process" <<'PY'
import statistics, sys
n, p = int(sys.argv[2]), int(sys.argv[3])
shell, procs = [], []
for line in open(sys.argv[1]):
    r, t0, t1, t2 = line.split()
    shell.append(n / (float(t1) - float(t0)))
    procs.append(p / (float(t2) - float(t1)))
    print(f"  round {r}: shell {shell[-1]:8.0f} commands/s   one process per command {procs[-1]:6.1f} commands/s")
s, q = statistics.median(shell), statistics.median(procs)
print(f"  median: shell {s:.0f} commands/s ({n} per round), processes {q:.1f} commands/s ({p} per round): {s / q:.0f}x")
PY
