#!/bin/sh
# Runs docs/labgrid/radio_driver.py under a real labgrid (from PyPI, in a
# venv under .build) against a daemon on loopback: the driver takes the
# lease on activation, sets power and channel, another client is refused,
# and deactivation gives the lease back. By hand: make labgrid-check.
set -eu
BIN=$(swift build --show-bin-path)
VENV=.build/labgrid-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import labgrid' 2>/dev/null || "$VENV/bin/pip" install -q labgrid
WORK=$(mktemp -d)
trap 'kill $SERVE 2>/dev/null; rm -rf "$WORK"' EXIT
"$BIN/radio-cli" serve --port sim --listen 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVE=$!
for _ in $(seq 50); do grep -q '^listening on' "$WORK/serve.out" && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$WORK/serve.out")
cp docs/labgrid/radio_driver.py "$WORK/"
sed "s|tcp://lab-pc-3:7362|$URL|" docs/labgrid/env.yaml > "$WORK/env.yaml"
cat > "$WORK/check.py" <<PY
import subprocess
from labgrid import Environment
target = Environment("env.yaml").get_target("bench-3")
radio = target.get_driver("RadioCliDriver")
assert radio.set_power(20.5) == 20.5
assert radio.set_channel(42) == 42
assert radio.who()["yours"]
other = subprocess.run(["$BIN/radio-cli", "set-power", "1", "--port", "$URL"], capture_output=True, text=True)
assert other.returncode == 75 and "locked by" in other.stderr, other.stderr
target.deactivate(radio)
free = subprocess.run(["$BIN/radio-cli", "who", "--port", "$URL"], capture_output=True, text=True).stdout
assert "not locked" in free, free
print("labgrid-check: RadioCliDriver took the lease, set power and channel, kept another client out, gave it back")
PY
(cd "$WORK" && PATH="$BIN:$PATH" "$OLDPWD/$VENV/bin/python" check.py)
