#!/usr/bin/env bash
# `make install` into a temporary DESTDIR (PREFIX=/usr), then checks every
# file it put there, runs the installed binaries with an empty environment
# (no toolchain on any path), tries the bash completion, renders the man
# pages, and `make uninstall` must leave no file behind. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=$(mktemp -d /tmp/radio-install.XXXXXX)
log=$(mktemp /tmp/radio-install-log.XXXXXX)
trap 'rm -rf "$dest" "$log"' EXIT
fail() { echo "install-check: $*" >&2; exit 1; }

make --no-print-directory install DESTDIR="$dest" PREFIX=/usr >"$log" 2>&1 || { tail -n 30 "$log" >&2; fail "make install failed"; }
root="$dest/usr"
cli="$root/bin/radio-cli"
sim="$root/bin/radio-sim"

# Every subcommand has its page; the list comes from the --help text.
subcommands=$(env -i "$cli" --help | awk '/^SUBCOMMANDS:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ && n++ {exit}' | grep -v '^help$')
[ -n "$subcommands" ] || fail "no subcommands in radio-cli --help"
expected="usr/bin/radio-cli
usr/bin/radio-sim
usr/share/bash-completion/completions/radio-cli
usr/share/bash-completion/completions/radio-sim
usr/share/zsh/site-functions/_radio-cli
usr/share/zsh/site-functions/_radio-sim
usr/share/fish/vendor_completions.d/radio-cli.fish
usr/share/fish/vendor_completions.d/radio-sim.fish
usr/share/man/man1/radio-cli.1
usr/share/man/man1/radio-sim.1
usr/lib/systemd/system/radio-serve@.service
etc/udev/rules.d/60-radio.rules"
for s in $subcommands; do expected="$expected
usr/share/man/man1/radio-cli.$s.1"; done
got=$(cd "$dest" && find . -type f | sed 's|^\./||' | sort)
want=$(echo "$expected" | sort)
[ "$got" = "$want" ] || fail "installed files differ from the expected ones:
$(diff <(echo "$want") <(echo "$got") || true)"

# Binaries: executable, no dependency on the toolchain, and they run with
# an empty environment.
for b in "$cli" "$sim"; do
  [ -x "$b" ] || fail "$b is not executable"
  deps=$(ldd "$b")
  if echo "$deps" | grep -qE 'not found|/opt/swift|libswift|libFoundation'; then fail "$b depends on the toolchain: $deps"; fi
done
commit=$(git describe --always --dirty --abbrev=12 2>/dev/null || echo unknown)
for t in radio-cli radio-sim; do
  v=$(env -i "$root/bin/$t" --version)
  echo "$v" | grep -qxE "$t [0-9]+\.[0-9]+\.[0-9]+ \(protocol 1, commit $commit\)" || fail "$t --version says '$v' (commit $commit expected)"
done
state=$(env -i "$cli" get-state --port 'loop://?telemetry-hz=0' --json) || fail "the installed radio-cli get-state failed"
echo "$state" | grep -q '"power_dbm"' || fail "get-state printed: $state"

# The systemd unit: what systemd itself says of it, for one radio (its
# ExecStart pointed at the installed binary, which is not in /usr here).
unit="$root/lib/systemd/system/radio-serve@.service"
grep -q '^ExecStart=/usr/bin/radio-cli serve --port /dev/radio/%i ' "$unit" || fail "the unit does not start /usr/bin/radio-cli serve"
verify=$(mktemp -d /tmp/radio-unit.XXXXXX)
sed "s|^ExecStart=/usr/bin/|ExecStart=$root/bin/|" "$unit" > "$verify/radio-serve@A1B2C3.service"
out=$(systemd-analyze verify --man=no "$verify/radio-serve@A1B2C3.service" 2>&1) || { rm -rf "$verify"; fail "systemd-analyze verify: $out"; }
rm -rf "$verify"
[ -z "$out" ] || fail "systemd-analyze verify warns: $out"

# Completions: bash completes subcommands and options; zsh and fish
# scripts are what argument-parser writes for them.
completed=$(bash --norc --noprofile -c '
  source "$1"
  complete -p radio-cli >/dev/null || exit 3
  f=$(complete -p radio-cli | sed -nE "s/.*-F ([^ ]+).*/\1/p")
  COMP_WORDS=(radio-cli set-); COMP_CWORD=1; COMP_LINE="radio-cli set-"; COMP_POINT=${#COMP_LINE}
  "$f" radio-cli set- radio-cli
  printf "%s\n" "${COMPREPLY[@]}"
  COMP_WORDS=(radio-cli monitor --co); COMP_CWORD=2; COMP_LINE="radio-cli monitor --co"; COMP_POINT=${#COMP_LINE}
  "$f" radio-cli --co monitor
  printf "%s\n" "${COMPREPLY[@]}"' _ "$root/share/bash-completion/completions/radio-cli") || fail "the bash completion script did not load"
for w in set-power set-channel --count; do
  echo "$completed" | grep -qx -- "$w" || fail "bash completion did not offer '$w' (got: $(echo $completed))"
done
head -n1 "$root/share/zsh/site-functions/_radio-cli" | grep -q '^#compdef radio-cli' || fail "the zsh script has no #compdef line"
grep -q "^complete -c 'radio-cli'" "$root/share/fish/vendor_completions.d/radio-cli.fish" || fail "the fish script completes nothing"

# Man pages: mdoc, each naming its command, and groff renders them without
# a warning where groff is installed.
for m in "$root"/share/man/man1/*.1; do
  grep -q '^\.Sh NAME' "$m" || fail "$m has no NAME section"
  if command -v groff >/dev/null; then
    warnings=$(groff -mdoc -Tutf8 -ww -z "$m" 2>&1) || fail "groff failed on $m: $warnings"
    [ -z "$warnings" ] || fail "groff warns on $m: $warnings"
  fi
done
grep -q '^\.Nm "radio-cli set-power"' "$root/share/man/man1/radio-cli.set-power.1" || fail "radio-cli.set-power.1 names another command"

cmp -s udev-rules/60-radio.rules "$dest/etc/udev/rules.d/60-radio.rules" || fail "the installed udev rules differ from udev-rules/60-radio.rules"

make --no-print-directory uninstall DESTDIR="$dest" PREFIX=/usr >"$log" 2>&1 || { cat "$log" >&2; fail "make uninstall failed"; }
left=$(cd "$dest" && find . -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install-check: $(echo "$want" | wc -l) files installed and checked ($(echo $subcommands | wc -w) subcommand man pages), binaries run with no toolchain, bash completion works, systemd verifies the unit, uninstall leaves nothing"
