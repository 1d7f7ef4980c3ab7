#!/usr/bin/env bash
# What Prometheus scrapes cost the radio path (issue 17): one daemon with
# --metrics in front of radio-sim's pty (telemetry at 10 Hz), under
# radio-cli load, in three conditions alternated ROUNDS times in this run:
#   none    no scrapes;
#   1s      a scrape every second, as a Prometheus server would;
#   flood   scrapes back to back for the whole run (the worst case).
# Reported: each condition's p50 and p99 of the load's service time, the
# medians over rounds, and the median of the per-round ratios against
# "none" (the same-run figure).
# Usage: scripts/metrics-bench.sh [rounds] [seconds per load run]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
seconds=${2:-10}
swift build -c release --product radio-cli >/dev/null
swift build -c release --product radio-sim >/dev/null
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d /tmp/radio-metrics-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

link="$work/radio"
"$bin/radio-sim" --telemetry-hz 10 --link "$link" >/dev/null &
pids+=("$!")
for _ in $(seq 50); do [ -e "$link" ] && break; sleep 0.1; done
"$bin/radio-cli" serve --quiet --port "$link" --listen 127.0.0.1:0 --metrics 127.0.0.1:0 >"$work/serve.out" 2>>"$work/serve.log" &
pids+=("$!")
for _ in $(seq 100); do grep -q '^metrics on' "$work/serve.out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^listening on //p' "$work/serve.out" | head -1)
metrics=$(sed -n 's/^metrics on //p' "$work/serve.out" | head -1)
curl -sf "$metrics" >"$work/scrape.txt"
echo "daemon $url, metrics $metrics ($(wc -c <"$work/scrape.txt") bytes a scrape)"

# Scrapes $metrics every $1 seconds (0: back to back) until killed; counts them.
scraper() {
    local n=0
    trap 'echo $n >"$work/scrapes"; exit 0' TERM
    while true; do
        curl -sf -o /dev/null "$metrics" && n=$((n + 1))
        [ "$1" = 0 ] || sleep "$1"
    done
}

: >"$work/rows"
for round in $(seq "$rounds"); do
    case $((round % 3)) in
        1) orders="none 1s flood" ;; 2) orders="1s flood none" ;; *) orders="flood none 1s" ;;
    esac
    for cond in $orders; do
        s=""
        case $cond in
            1s) scraper 1 & s=$! ;;
            flood) scraper 0 & s=$! ;;
        esac
        l=$("$bin/radio-cli" load --port "$url" --clients 4 --rate 1000 --duration "$seconds" --command mix --quiet --json)
        n=0
        if [ -n "$s" ]; then kill -TERM "$s"; wait "$s" || true; n=$(cat "$work/scrapes"); fi
        echo "$round $cond $n $l" >>"$work/rows"
    done
done
python3 - "$work/rows" "$seconds" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    rnd, cond, n, rest = line.split(" ", 3)
    r = json.loads(rest)
    rows.setdefault(int(rnd), {})[cond] = (r["service_time_us"]["p50"], r["service_time_us"]["p99"], r["errors"], int(n))
conds = ("none", "1s", "flood")
print("  round   service time p50 / p99 (µs):   none          1 s scrape     scrapes flooding   errors  scrapes")
for rnd in sorted(rows):
    r = rows[rnd]
    print(f"  {rnd:5}  " + "".join(f"{r[c][0]:14.1f} /{r[c][1]:7.1f}" for c in conds)
          + f"   {'/'.join(str(r[c][2]) for c in conds)}   {r['1s'][3]}/{r['flood'][3]}")
for c in conds:
    p50 = statistics.median(rows[k][c][0] for k in rows)
    p99 = statistics.median(rows[k][c][1] for k in rows)
    line = f"  {c:6} median p50 {p50:7.1f} µs, p99 {p99:7.1f} µs"
    if c != "none":
        r50 = statistics.median(rows[k][c][0] / rows[k]["none"][0] for k in rows)
        r99 = statistics.median(rows[k][c][1] / rows[k]["none"][1] for k in rows)
        line += f"; paired ratio to none: p50 {r50:.3f}, p99 {r99:.3f}"
        line += f"; {statistics.median(rows[k][c][3] for k in rows) / float(sys.argv[2]):.0f} scrapes/s"
    print(line)
PY
