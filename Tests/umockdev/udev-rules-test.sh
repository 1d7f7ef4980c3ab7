#!/bin/sh
# Runs `udevadm test` with RULES (default udev-rules/60-radio.rules) on mocked
# devices: the radio's FTDI tty and port, and a plain FTDI cable.
#   Tests/umockdev/udev-rules-test.sh [RULES]
# udevadm reads rules from /run/udev/rules.d and writes its database there,
# so it runs in a private mount namespace with a private /run: the machine's
# udev is untouched. Needs root (unshare), udev and umockdev.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
rules=$(realpath "${1:-$here/../../udev-rules/60-radio.rules}")
exec unshare --mount --propagation private sh -eu -c '
  mount -t tmpfs tmpfs /run
  mkdir -p /run/udev/rules.d
  cp "$1" /run/udev/rules.d/60-radio.rules
  exec umockdev-wrapper /usr/bin/python3 "$2/testbed.py" "$(command -v udevadm)" udevadm
' sh "$rules" "$here"
