#!/usr/bin/env bash
# What a radio-cli process costs to start: instructions (callgrind, which
# counts the same on a noisy host), syscalls (strace -c -f), shared objects
# loaded, and wall time (hyperfine, median of RUNS after warm-ups), for
# `radio-cli get-state` on loop:// (no pty: the start-up, one Identify-free
# round trip and the exit) and `radio-cli --version`. Copies without debug
# info (valgrind 3.19 reads no DWARF 5), run under callgrind with the
# sigsuspend shim (bench/valgrind), as scripts/roundtrip-costs.sh does.
# With two binaries, both are measured in the same run, wall times in one
# hyperfine call.
# Usage: scripts/startup-bench.sh RADIO_CLI [RADIO_CLI_BEFORE]
set -euo pipefail
runs=${RUNS:-30}
work=$(mktemp -d /tmp/radio-startup.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$(dirname "$0")/.."
cc -O2 -shared -fPIC -o "$work/shim.so" bench/valgrind/sigsuspend-shim.c
names=()
for i in "$@"; do
  n=$((${#names[@]} + 1)); objcopy --strip-debug "$i" "$work/cli$n"; names+=("$work/cli$n")
done
label() { if [ "$1" = 1 ]; then echo "this build"; else echo "before"; fi; }
args="get-state --timeout 60 --port loop://?telemetry-hz=0"
printf '%-11s %-34s %14s %9s %8s %9s\n' build command instructions syscalls objects size
for n in $(seq ${#names[@]}); do
  b=${names[$((n - 1))]}
  objects=$(ldd "$b" | wc -l)
  size=$(du -k "$b" | cut -f1)
  for cmd in "$args" "--version"; do
    LD_PRELOAD="$work/shim.so" valgrind --tool=callgrind --callgrind-out-file="$work/cg" "$b" $cmd >/dev/null 2>"$work/vg" || true
    ins=$(sed -nE 's/.*Collected : ([0-9]+).*/\1/p' "$work/vg")
    strace -f -c -o "$work/st" "$b" $cmd >/dev/null
    calls=$(awk '$NF == "total" {print $(NF-2)}' "$work/st")
    printf '%-11s %-34s %14s %9s %8s %8sK\n' "$(label "$n")" "${cmd:0:34}" "$ins" "$calls" "$objects" "$size"
  done
done
cmds=()
for b in "${names[@]}"; do cmds+=("$b $args"); done
hyperfine -N --warmup 5 --runs "$runs" --export-json "$work/h.json" "${cmds[@]}" >/dev/null 2>&1
python3 - "$work/h.json" "${#names[@]}" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
for i, r in enumerate(results):
    t = sorted(r["times"])
    q = lambda p: t[min(len(t) - 1, int(p * (len(t) - 1)))] * 1000
    print(f"wall, {'this build' if i == 0 else 'before'}: median {r['median'] * 1000:.1f} ms (q1 {q(0.25):.1f}, q3 {q(0.75):.1f}) over {len(t)} runs of get-state")
PY
