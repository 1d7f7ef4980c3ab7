#!/usr/bin/env python3
"""A client of the sharing daemon written in another language: Python,
using only scripts/vectors.py (the implementation of docs/PROTOCOL.md
written from the spec alone) and a TCP socket. It sends SetPower and
SetChannel with sequence numbers 1 and 2 (the numbers every fresh client
uses, so other clients of the daemon use them too), waits for its two
replies and for telemetry, and prints what it got as one JSON object.

    protocol_client.py HOST PORT POWER_DECI_DBM CHANNEL

Exit status: 0 when both replies came back right and telemetry arrived,
1 otherwise (the JSON says what was missing), 64 on bad arguments.
"""
import json
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "scripts"))
from vectors import COMMANDS, TELEMETRY, decode_stream, frame_wire  # noqa: E402


def main():
    if len(sys.argv) != 5:
        print(__doc__.strip().splitlines()[-4], file=sys.stderr)
        sys.exit(64)
    host, port, power, channel = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(b"\x00" + frame_wire(COMMANDS["set_power"], 1, struct.pack("<h", power))
                 + frame_wire(COMMANDS["set_channel"], 2, struct.pack("<H", channel)))
    want = {1: (0x80 | COMMANDS["set_power"], "00" + struct.pack("<h", power).hex()),
            2: (0x80 | COMMANDS["set_channel"], "00" + struct.pack("<H", channel).hex())}
    got, telemetry, errors, pending = {}, 0, [], b""
    deadline = time.monotonic() + 5
    while (len(got) < 2 or telemetry < 3) and time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            break
        if not chunk:
            errors.append("the daemon closed the connection")
            break
        pending += chunk
        # Decode up to the last delimiter; keep a partial frame for later.
        cut = pending.rfind(b"\x00") + 1
        complete, pending = pending[:cut], pending[cut:]
        for event in decode_stream(complete):
            if "error" in event:
                errors.append(event["error"])
                continue
            f = event["frame"]
            if f["type"] == TELEMETRY:
                telemetry += 1
            elif f["sequence"] in want:
                got[f["sequence"]] = (f["type"], f["payload"])
            else:
                errors.append(f"a frame that is not mine: type {f['type']:#x} seq {f['sequence']}")
    ok = got == want and telemetry >= 3 and not errors
    print(json.dumps({"ok": ok, "replies": {str(k): [t, p] for k, (t, p) in got.items()},
                      "telemetry_frames": telemetry, "errors": errors}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
