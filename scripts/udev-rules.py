#!/usr/bin/env python3
"""Generates the udev rules and RadioDiscovery's adapter table from
udev-rules/adapters.tsv, the one place the IDs live.

  udev-rules.py --write   rewrite udev-rules/60-radio.rules and
                          Sources/RadioDiscovery/AdapterTable.swift
  udev-rules.py --check   exit 1 when either differs from what the table gives
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "udev-rules" / "adapters.tsv"
RULES = ROOT / "udev-rules" / "60-radio.rules"
SWIFT = ROOT / "Sources" / "RadioDiscovery" / "AdapterTable.swift"
HEX4 = re.compile(r"^[0-9a-f]{4}$")


def read_table():
    adapters = []
    for number, line in enumerate(TABLE.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 5:
            sys.exit(f"{TABLE.name}:{number}: expected 5 tab-separated fields, found {len(fields)}")
        vendor, product, string, driver, name = (f.strip() for f in fields)
        if not HEX4.match(vendor) or not HEX4.match(product):
            sys.exit(f"{TABLE.name}:{number}: vendor and product must be 4 lower-case hex digits")
        if '"' in string or '"' in name or not string or not re.match(r"^[a-z0-9_]+$", driver):
            sys.exit(f"{TABLE.name}:{number}: bad product string or driver")
        adapters.append({"vendor": vendor, "product": product, "string": string, "driver": driver, "name": name})
    if not adapters:
        sys.exit(f"{TABLE.name}: no adapters")
    return adapters


def match(a):
    keys = f'ATTRS{{idVendor}}=="{a["vendor"]}", ATTRS{{idProduct}}=="{a["product"]}"'
    if a["string"] != "*":
        keys += f', ATTRS{{product}}=="{a["string"]}"'
    return keys


def rules(adapters):
    out = ["# Radios on USB-serial adapters: stable names, access, and low latency.",
           "# GENERATED from udev-rules/adapters.tsv by scripts/udev-rules.py: edit the",
           "# table and run `make udev-rules`, not this file. Install: `make install-udev`.",
           "#",
           "# For each radio's tty this sets ID_RADIO=1 (what RadioDiscovery matches),",
           "# ID_RADIO_SERIAL, a /dev/radio/<serial> symlink, group dialout mode 0660",
           "# plus uaccess for the logged-in user, and ID_MM_DEVICE_IGNORE=1 so that",
           "# ModemManager leaves the port alone. FTDI adapters get a 1 ms latency timer",
           "# (their default of 16 ms puts every round trip at 16 ms or more).",
           "",
           'ACTION=="remove", GOTO="radio_end"',
           "",
           "# FTDI latency timer, on the usb-serial port device that carries it.",
           'SUBSYSTEM!="usb-serial", GOTO="radio_tty"']
    for a in adapters:
        if a["driver"] == "ftdi_sio":
            out.append(f'DRIVER=="ftdi_sio", {match(a)}, ATTR{{latency_timer}}="1"')
    out += ['GOTO="radio_end"',
            "",
            'LABEL="radio_tty"',
            'SUBSYSTEM!="tty", GOTO="radio_end"']
    for a in adapters:
        out.append(f'SUBSYSTEMS=="usb", {match(a)}, ENV{{ID_RADIO}}="1", ENV{{ID_RADIO_SERIAL}}="$attr{{serial}}"')
    out += ['ENV{ID_RADIO}!="1", GOTO="radio_end"',
            'ENV{ID_MM_DEVICE_IGNORE}="1"',
            'GROUP="dialout", MODE="0660", TAG+="uaccess"',
            "# The serial number comes from the device: a link only for one made of",
            "# safe characters (a space would make two links, a slash a path).",
            'ENV{ID_RADIO_SERIAL}=="?*", ENV{ID_RADIO_SERIAL}!="*[!A-Za-z0-9._-]*", ENV{ID_RADIO_SERIAL}!=".*", \\',
            '  SYMLINK+="radio/$env{ID_RADIO_SERIAL}"',
            "",
            'LABEL="radio_end"',
            ""]
    return "\n".join(out)


def swift_string(s):
    return '"' + s.replace("\\", "\\\\") + '"'


def swift(adapters):
    out = ["// GENERATED from udev-rules/adapters.tsv by scripts/udev-rules.py:",
           "// edit the table and run `make udev-rules`, not this file.",
           "",
           "extension AdapterID {",
           "    /// The adapters radios are attached by, as udev-rules/60-radio.rules matches them.",
           "    public static let known: [AdapterID] = ["]
    for a in adapters:
        out.append(f'        AdapterID(vendor: 0x{a["vendor"]}, product: 0x{a["product"]}, '
                   f'productPattern: {swift_string(a["string"])}, driver: {swift_string(a["driver"])},')
        out.append(f'                  name: {swift_string(a["name"])}),')
    out += ["    ]", "}", ""]
    return "\n".join(out)


def main(argv):
    if argv not in (["--write"], ["--check"]):
        print(__doc__, file=sys.stderr)
        return 64
    adapters = read_table()
    wanted = {RULES: rules(adapters), SWIFT: swift(adapters)}
    if argv == ["--write"]:
        for path, text in wanted.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    for p in stale:
        print(f"udev-rules: {p.relative_to(ROOT)} does not match udev-rules/adapters.tsv; run `make udev-rules`",
              file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
