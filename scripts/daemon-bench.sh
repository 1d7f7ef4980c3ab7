#!/usr/bin/env bash
# The sharing daemon's two targets (issue 8), measured with radio-cli load
# and radio-cli bench on a release build:
#   1. 32 clients at 5,000 requests/s in all through the daemon to loop://
#      (target: p99 <= 1 ms from each request's due time, zero errors);
#   2. the daemon in front of radio-sim's pty (over TCP and over its Unix
#      socket) against a direct connection to
#      the same pty, alternated ROUNDS times in this run (target: <= 25 %
#      added p50).
#   3. the floor: the same pty round trip in bare C, direct and through a
#      one-thread relay process (bench/ptyfloor/ptyfloor.c), which no
#      relaying daemon can beat.
# Usage: scripts/daemon-bench.sh [rounds] [seconds per load run]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-10}
swift build -c release --product radio-cli >/dev/null
swift build -c release --product radio-sim >/dev/null
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d /tmp/radio-daemon-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Starts a daemon on $1 and sets $url and $daemon.
start_daemon() {
    "$bin/radio-cli" serve --quiet --port "$1" --listen 127.0.0.1:0 >"$work/serve.out" 2>>"$work/serve.log" &
    daemon=$!
    pids+=("$daemon")
    for _ in $(seq 100); do grep -q '^listening on' "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
    url=$(sed -n 's/^listening on //p' "$work/serve.out" | head -1)
}
stop_daemon() { kill -TERM "$daemon"; wait "$daemon" || { echo "daemon exited $?" >&2; exit 1; }; }

echo "== 1. daemon -> loop://, 32 clients, 5000 requests/s, ${seconds} s"
start_daemon 'loop://?telemetry-hz=10'
"$bin/radio-cli" load --port "$url" --clients 32 --rate 5000 --duration "$seconds" --quiet --json >"$work/load32.json"
stop_daemon
python3 - "$work/load32.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l, s = r["latency_us"], r["service_time_us"]
print(f"  {r['ok']} ok, {r['errors']} errors of {r['scheduled']} due; achieved {r['achieved_rate_per_s']}/s")
print(f"  from due time: p50 {l['p50']} µs  p99 {l['p99']} µs  p99.9 {l['p99.9']} µs  max {l['max']} µs")
print(f"  service time:  p50 {s['p50']} µs  p99 {s['p99']} µs")
print(f"  target p99 <= 1000 µs, zero errors: {'met' if l['p99'] <= 1000 and r['errors'] == 0 else 'NOT met'}")
PY

echo "== 2. radio-sim's pty: direct, through the daemon over TCP, and over its Unix socket; ${rounds} rounds"
link="$work/radio"
"$bin/radio-sim" --telemetry-hz 0 --link "$link" >/dev/null &
pids+=("$!")
for _ in $(seq 50); do [ -e "$link" ] && break; sleep 0.1; done
start_daemon_unix() {
    "$bin/radio-cli" serve --quiet --port "$link" --listen "unix:$work/radio.sock" >"$work/serve.out" 2>>"$work/serve.log" &
    daemon=$!
    pids+=("$daemon")
    for _ in $(seq 100); do grep -q '^listening on' "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
    url="unix://$work/radio.sock"
}
: >"$work/rows"
for round in $(seq "$rounds"); do
    # Rotate the order each round, so drift in the machine's load does not
    # always favour the same path.
    case $((round % 3)) in
        1) orders="direct tcp unix" ;; 2) orders="tcp unix direct" ;; *) orders="unix direct tcp" ;;
    esac
    for order in $orders; do
        case $order in
            direct) port=$link ;;
            tcp) start_daemon "$link"; port=$url ;;
            unix) start_daemon_unix; port=$url ;;
        esac
        b=$("$bin/radio-cli" bench --port "$port" --count 3000 --command set-power --json)
        l=$("$bin/radio-cli" load --port "$port" --clients 1 --rate 1000 --duration "$seconds" --command set-power --quiet --json)
        [ "$order" != direct ] && stop_daemon
        echo "$round $order $b $l" >>"$work/rows"
    done
done
python3 - "$work/rows" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, order, rest = line.split(" ", 2)
    dec = json.JSONDecoder()
    bench, end = dec.raw_decode(rest)
    load, _ = dec.raw_decode(rest[end:].lstrip())
    rows.setdefault(int(rnd), {})[order] = (bench["commands"]["set-power"]["latency_us"]["p50"], load["latency_us"]["p50"],
                                           load["service_time_us"]["p50"], load["errors"])
ratios = {k: [] for k in ("tcp", "unix", "tcp-load", "unix-load")}
print("  round   bench p50 (µs): direct   tcp    unix  |  load 1000/s p50 from due (µs): direct   tcp    unix   errors")
for rnd in sorted(rows):
    r = rows[rnd]
    for k in ("tcp", "unix"):
        ratios[k].append(r[k][0] / r["direct"][0])
        ratios[k + "-load"].append(r[k][1] / r["direct"][1])
    print(f"  {rnd:5}  {r['direct'][0]:19.1f} {r['tcp'][0]:6.1f} {r['unix'][0]:6.1f}  |  "
          f"{r['direct'][1]:33.1f} {r['tcp'][1]:6.1f} {r['unix'][1]:6.1f}   "
          f"{r['direct'][3]}/{r['tcp'][3]}/{r['unix'][3]}")
def pct(v): return f"+{100 * (statistics.median(v) - 1):.0f} %"
print(f"  median added p50, bench: tcp {pct(ratios['tcp'])}, unix {pct(ratios['unix'])}; "
      f"load: tcp {pct(ratios['tcp-load'])}, unix {pct(ratios['unix-load'])}  (target: <= +25 %)")
PY

echo "== 3. the floor for any relay: bare C, a pty round trip direct vs through a one-thread poll-loop relay"
cc -O2 -Wall -Wextra -o bench/ptyfloor/ptyfloor bench/ptyfloor/ptyfloor.c
: >"$work/floors"
for round in $(seq "$rounds"); do
    for mode in none unix tcp; do bench/ptyfloor/ptyfloor 5000 10 11 "$mode" >>"$work/floors"; done
done
python3 - "$work/floors" <<'PY'
import json, statistics, sys
by = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    by.setdefault(r["relay"], []).append(r["p50_us"])
d = statistics.median(by["none"])
print("  p50 medians: direct %.1f µs, relay over a Unix socket %.1f µs (+%.0f %%), over TCP %.1f µs (+%.0f %%)" % (
    d, statistics.median(by["unix"]), 100 * (statistics.median(by["unix"]) / d - 1),
    statistics.median(by["tcp"]), 100 * (statistics.median(by["tcp"]) / d - 1)))
PY
