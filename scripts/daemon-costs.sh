#!/usr/bin/env bash
# The sharing daemon's instructions per forwarded request (SetPower through
# `radio-cli serve` to loop://, telemetry off), counted by callgrind as the
# difference of a 5000- and a 1000-round-trip run divided by 4000, three
# times (the median is the figure): this build, and with BASE=rev the same
# for that revision, built in a worktree, in this run. Counts, not times,
# but not exact: valgrind runs the daemon's two threads one at a time, so
# how many loop wake-ups a request takes varies between runs (seen: +-400).
# Usage: scripts/daemon-costs.sh [BASE]      (make daemon-costs BASE=rev)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq valgrind >/dev/null; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; git worktree remove --force "$work/base" 2>/dev/null || true; rm -rf "$work"' EXIT
cc -O2 -shared -fPIC -o "$work/shim.so" bench/valgrind/sigsuspend-shim.c

# per_request LABEL BIN_DIR: the daemon's instructions per request.
per_request() {
  local label=$1 bin=$2 n run counts results=()
  objcopy --strip-debug "$bin/radio-cli" "$work/radio-cli-$label"
  for run in 1 2 3; do
    counts=()
    for n in 1000 5000; do
      LD_PRELOAD="$work/shim.so" valgrind --tool=callgrind --callgrind-out-file="$work/$label-$n.cg" \
        "$work/radio-cli-$label" serve --quiet --port 'loop://?telemetry-hz=0' --listen 127.0.0.1:0 \
        >"$work/$label-$n.out" 2>"$work/$label-$n.log" &
      local daemon=$!
      for _ in $(seq 300); do grep -q '^listening on' "$work/$label-$n.out" 2>/dev/null && break; sleep 0.1; done
      local url; url=$(sed -n 's/^listening on //p' "$work/$label-$n.out" | head -1)
      "$bin/radio-cli" bench --port "$url" --count $n --warmup 0 --command set-power --timeout 10 >/dev/null
      kill -TERM $daemon; wait $daemon 2>/dev/null || true
      counts+=("$(sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$work/$label-$n.log")")
    done
    results+=("$(( (counts[1] - counts[0]) / 4000 ))")
  done
  echo "$label: daemon instructions per forwarded SetPower: median $(printf '%s\n' "${results[@]}" | sort -n | sed -n 2p) (runs: ${results[*]})"
}

swift build -c release --product radio-cli >/dev/null
per_request "this-build-$(git rev-parse --short HEAD)" "$(swift build -c release --show-bin-path)"
if [ -n "${1:-}" ]; then
  git worktree add -q --detach "$work/base" "$1"
  (cd "$work/base" && swift build -c release --product radio-cli --scratch-path "$work/base/.build" >/dev/null)
  per_request "base-$1" "$(cd "$work/base" && swift build -c release --scratch-path "$work/base/.build" --show-bin-path)"
fi
