#!/usr/bin/env python3
"""Writes Sources/RadioConformance/Vectors.swift: every request vector of
docs/vectors.json (the frames whose type is a request, 0x01-0x3F, and the
message errors whose frame is one), for `radio-cli conform` to replay.
With --check, fails if the file differs from what it would write.
Usage: scripts/conform-vectors.py [--check]"""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
vectors = json.loads((root / "docs/vectors.json").read_text())
out = root / "Sources/RadioConformance/Vectors.swift"


def cobs_decode(data):
    raw, i = bytearray(), 0
    while i < len(data):
        code = data[i]
        raw += data[i + 1:i + code]
        i += code
        if code < 0xFF and i < len(data):
            raw.append(0)
    return bytes(raw)


def raw_of(wire_hex):
    wire = bytes.fromhex(wire_hex)
    return cobs_decode(wire[:wire.index(0)])


rows = []
for f in vectors["frames"]:
    if 0x01 <= f["frame"]["type"] <= 0x3F:
        rows.append((f["name"], f["wire"], ""))
for e in vectors["message_errors"]:
    raw = raw_of(e["wire"])
    if len(raw) >= 2 and 0x01 <= raw[1] <= 0x3F:
        rows.append((e["name"], e["wire"], e["error"]))

lines = [
    "// Generated from docs/vectors.json by scripts/conform-vectors.py; do not edit.",
    "// `make test` checks that it matches (scripts/conform-vectors.py --check).",
    "",
    "/// Every request vector of docs/vectors.json, for `conform` to replay.",
    "enum ConformanceVectors {",
    "    /// Name, wire bytes (hex), and the error the request carries (\"\" for none).",
    "    static let requests: [(name: String, wire: String, error: String)] = [",
]
for name, wire, error in rows:
    lines.append(f"        ({json.dumps(name)}, \"{wire}\", \"{error}\"),")
lines += ["    ]", "}", ""]
text = "\n".join(lines)
if "--check" in sys.argv:
    if not out.exists() or out.read_text() != text:
        sys.exit(f"{out.relative_to(root)} is out of date: run scripts/conform-vectors.py")
    print(f"conform vectors: {len(rows)} request vectors match docs/vectors.json")
else:
    out.write_text(text)
    print(f"wrote {out.relative_to(root)}: {len(rows)} request vectors")
