#!/usr/bin/env bash
# The sharing daemon's two targets (issue 8), measured with radio-cli load
# and radio-cli bench on a release build:
#   1. 32 clients at 5,000 requests/s in all through the daemon to loop://
#      (target: p99 <= 1 ms from each request's due time, zero errors);
#   2. the daemon in front of radio-sim's pty against a direct connection to
#      the same pty, alternated ROUNDS times in this run (target: <= 25 %
#      added p50).
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
print(f"  {r['ok']} ok, {r['errors']} errors of {r['scheduled']} due; achieved {r['achieved_rate']}/s")
print(f"  from due time: p50 {l['p50']} µs  p99 {l['p99']} µs  p99.9 {l['p99.9']} µs  max {l['max']} µs")
print(f"  service time:  p50 {s['p50']} µs  p99 {s['p99']} µs")
print(f"  target p99 <= 1000 µs, zero errors: {'met' if l['p99'] <= 1000 and r['errors'] == 0 else 'NOT met'}")
PY

echo "== 2. radio-sim's pty: direct vs through the daemon, ${rounds} rounds alternating"
link="$work/radio"
"$bin/radio-sim" --telemetry-hz 0 --link "$link" >/dev/null &
pids+=("$!")
for _ in $(seq 50); do [ -e "$link" ] && break; sleep 0.1; done
: >"$work/pairs"
for round in $(seq "$rounds"); do
    for order in direct daemon; do
        [ $((round % 2)) -eq 0 ] && order=$([ "$order" = direct ] && echo daemon || echo direct)
        if [ "$order" = direct ]; then port=$link; else start_daemon "$link"; port=$url; fi
        b=$("$bin/radio-cli" bench --port "$port" --count 3000 --commands set-power --json)
        l=$("$bin/radio-cli" load --port "$port" --clients 1 --rate 1000 --duration "$seconds" --command set-power --quiet --json)
        [ "$order" = daemon ] && stop_daemon
        echo "$round $order $b $l" >>"$work/pairs"
    done
done
python3 - "$work/pairs" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, order, rest = line.split(" ", 2)
    dec = json.JSONDecoder()
    bench, end = dec.raw_decode(rest)
    load, _ = dec.raw_decode(rest[end:].lstrip())
    rows.setdefault(int(rnd), {})[order] = (bench["commands"]["set-power"]["p50_us"], load["latency_us"]["p50"],
                                           load["errors"])
bench_ratio, load_ratio = [], []
print("  round  bench p50 direct/daemon (µs)   load 1000/s p50 direct/daemon (µs)")
for rnd in sorted(rows):
    (bd, ld, ed), (bs, ls, es) = rows[rnd]["direct"], rows[rnd]["daemon"]
    bench_ratio.append(bs / bd); load_ratio.append(ls / ld)
    print(f"  {rnd:5}  {bd:7.1f} / {bs:7.1f}  (+{100 * (bs / bd - 1):4.0f} %)     "
          f"{ld:7.1f} / {ls:7.1f}  (+{100 * (ls / ld - 1):4.0f} %)   errors {ed}/{es}")
mb, ml = statistics.median(bench_ratio), statistics.median(load_ratio)
print(f"  median added p50: bench +{100 * (mb - 1):.0f} %, load +{100 * (ml - 1):.0f} % "
      f"(target <= 25 %: {'met' if mb <= 1.25 else 'NOT met'} by bench)")
PY
