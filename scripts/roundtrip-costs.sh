#!/usr/bin/env bash
# Counts, not times, per round trip (SetPower, telemetry off), as the
# difference of a 3000- and a 1000-round-trip run divided by 2000:
#   - instructions (callgrind) of radio-cli bench on loop:// (client and
#     in-memory simulator in one process), of the client on a pty to a
#     radio-sim process, and of that radio-sim;
#   - syscalls (strace -c) of the client and of radio-sim.
# Usage: scripts/roundtrip-costs.sh [BIN_DIR]   (default: the release build)
# valgrind 3.19 reads no DWARF 5, so it runs stripped copies; libdispatch
# calls sigsuspend with a mask in read-only memory, which valgrind faults on,
# so a preloaded shim copies the mask first (bench/valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
for p in valgrind strace; do
  command -v $p >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq $p >/dev/null; }
done
if [ -z "${1:-}" ]; then
  swift build -c release --product radio-cli >/dev/null
  swift build -c release --product radio-sim >/dev/null
fi
bin=${1:-$(swift build -c release --show-bin-path)}
work=$(mktemp -d)
trap 'rm -rf "$work"; kill $(jobs -p) 2>/dev/null || true' EXIT
cc -O2 -shared -fPIC -o "$work/shim.so" bench/valgrind/sigsuspend-shim.c
objcopy --strip-debug "$bin/radio-cli" "$work/radio-cli"
objcopy --strip-debug "$bin/radio-sim" "$work/radio-sim"
cg() {  # cg OUT -- command...: instructions collected
  local out=$1; shift
  LD_PRELOAD="$work/shim.so" valgrind --tool=callgrind --callgrind-out-file="$work/$out.cg" "$@" >/dev/null 2>"$work/$out.log" || true
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/$out.log"
}
per() { python3 -c "print(round(($2 - $1) / 2000))"; }
start_sim() {  # start_sim LINK [wrapper...]
  local link=$1; shift
  "$@" "$work/radio-sim" --telemetry-hz 0 --link "$link" >/dev/null 2>"$work/sim.log" &
  sim=$!
  for _ in $(seq 100); do [ -e "$link" ] && return; sleep 0.1; done
}
bench() { "$work/radio-cli" bench --port "$1" --count "$2" --warmup 0 --command set-power >/dev/null; }

a=$(cg loop1 "$work/radio-cli" bench --port 'loop://?telemetry-hz=0' --count 1000 --warmup 0 --command set-power)
b=$(cg loop3 "$work/radio-cli" bench --port 'loop://?telemetry-hz=0' --count 3000 --warmup 0 --command set-power)
echo "loop:// instructions per round trip (client + simulator): $(per "$a" "$b")"

for n in 1000 3000; do
  link="$work/pty-$n"; start_sim "$link"
  eval "c$n=\$(cg cli$n \"$work/radio-cli\" bench --port \"$link\" --count $n --warmup 0 --command set-power)"
  kill -TERM $sim; wait $sim 2>/dev/null || true
  link="$work/sim-$n"
  LD_PRELOAD="$work/shim.so" valgrind --tool=callgrind --callgrind-out-file="$work/sim$n.cg" "$work/radio-sim" \
    --telemetry-hz 0 --link "$link" >/dev/null 2>"$work/sim$n.log" &
  sim=$!
  for _ in $(seq 100); do [ -e "$link" ] && break; sleep 0.1; done
  bench "$link" $n
  kill -TERM $sim; wait $sim 2>/dev/null || true
  eval "s$n=\$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' \"$work/sim$n.log\")"
done
echo "pty client instructions per round trip: $(per "$c1000" "$c3000")"
echo "radio-sim instructions per request: $(per "$s1000" "$s3000")"

for n in 1000 3000; do
  link="$work/st-$n"; start_sim "$link"
  strace -f -c -o "$work/cli$n.strace" "$work/radio-cli" bench --port "$link" --count $n --warmup 0 --command set-power >/dev/null
  strace -f -c -o "$work/sim$n.strace" -p $sim 2>/dev/null & st=$!
  sleep 0.5; bench "$link" $n; kill -INT $st; wait $st 2>/dev/null || true
  kill -TERM $sim; wait $sim 2>/dev/null || true
done
total() { awk '$NF == "total" {print $4}' "$1"; }
echo "client syscalls per round trip: $(python3 -c "print(($(total "$work/cli3000.strace") - $(total "$work/cli1000.strace")) / 2000)")"
echo "radio-sim syscalls per request: $(python3 -c "print(($(total "$work/sim3000.strace") - $(total "$work/sim1000.strace")) / 2000)")"
