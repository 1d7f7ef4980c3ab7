#!/usr/bin/env python3
"""Second implementation of docs/PROTOCOL.md, written from the spec alone.

It generates docs/vectors.json (`--write`) or checks that the committed
file matches what it generates (`--check`, run by `make test`). The Swift
codec's tests run over the same file, so two independent implementations
must agree byte for byte.
"""
import json
import struct
import sys
from pathlib import Path

VERSION = 1
MAX_PAYLOAD = 250
MAX_RAW = 4 + MAX_PAYLOAD + 2
MAX_ENCODED = MAX_RAW + (MAX_RAW + 253) // 254

COMMANDS = {"identify": 0x01, "set_power": 0x02, "set_channel": 0x03,
            "get_state": 0x04, "ping": 0x05, "set_telemetry_rate": 0x06}
STATUS = {"ok": 0, "out_of_range": 1, "busy": 2, "unknown_command": 3,
          "malformed": 4, "unsupported_version": 5, "hardware_fault": 6}
TELEMETRY = 0x40
LINK = 0x41
LEASE = 0x42
# §11.1-11.2: requests a sharing daemon answers itself.
DAEMON_COMMANDS = {"lock": 0x20, "unlock": 0x21, "lease": 0x22, "claim": 0x23, "status": 0x24}
DAEMON_STATUS = dict(STATUS, not_held=7)
LEASE_EVENTS = {"refused": 0, "taken": 1, "released": 2, "expired": 3, "holder_gone": 4, "revoked": 5}


def crc16_ccitt_false(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def cobs_encode(raw: bytes) -> bytes:
    out = bytearray()
    block = bytearray()
    for b in raw:
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(0xFF)
                out += block
                block = bytearray()
    # Last block: present unless the input ended exactly on a full block,
    # which gets no trailing 01 (the canonical encoding).
    ended_on_full = len(raw) > 0 and raw[-1] != 0 and len(block) == 0
    if not ended_on_full:
        out.append(len(block) + 1)
        out += block
    return bytes(out)


def cobs_decode(enc: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(enc):
        code = enc[i]
        if code == 0:
            raise ValueError("invalid_cobs")
        i += 1
        end = i + code - 1
        if end > len(enc):
            raise ValueError("invalid_cobs")
        chunk = enc[i:end]
        if 0 in chunk:
            raise ValueError("invalid_cobs")
        out += chunk
        i = end
        if code != 0xFF and i < len(enc):
            out.append(0)
    return bytes(out)


def frame_wire(ftype: int, seq: int, payload: bytes, version: int = VERSION) -> bytes:
    raw = bytes([version, ftype]) + struct.pack("<H", seq) + payload
    raw += struct.pack("<H", crc16_ccitt_false(raw))
    return cobs_encode(raw) + b"\x00"


def decode_stream(data: bytes):
    """The decoder of PROTOCOL.md §3: events for each delimited run."""
    events = []
    buf = bytearray()
    overflow = False
    for b in data:
        if b != 0:
            if overflow:
                continue
            if len(buf) == MAX_ENCODED:
                overflow = True
                buf = bytearray()
                continue
            buf.append(b)
            continue
        if overflow:
            events.append({"error": "oversized"})
            overflow = False
            continue
        if not buf:
            continue
        enc = bytes(buf)
        buf = bytearray()
        try:
            raw = cobs_decode(enc)
        except ValueError:
            events.append({"error": "invalid_cobs"})
            continue
        if len(raw) < 6:
            events.append({"error": "too_short"})
            continue
        if len(raw) > MAX_RAW:
            events.append({"error": "oversized"})
            continue
        body, crc = raw[:-2], struct.unpack("<H", raw[-2:])[0]
        if crc16_ccitt_false(body) != crc:
            events.append({"error": "crc_mismatch"})
            continue
        events.append({"frame": {"version": body[0], "type": body[1],
                                 "sequence": struct.unpack("<H", body[2:4])[0],
                                 "payload": body[4:].hex()}})
    return events


def s16(v):
    return struct.pack("<h", v)


def u16(v):
    return struct.pack("<H", v)


def measurements(m):
    return (s16(m["rssi_deci_dbm"]) + s16(m["snr_deci_db"]) + s16(m["temperature_deci_c"])
            + u16(m["supply_mv"]) + s16(m["forward_deci_dbm"]) + s16(m["reflected_deci_dbm"]))


def string(s):
    b = s.encode()
    return bytes([len(b)]) + b


def encode_message(msg, seq):
    """(type, sequence, payload) for a message in the vectors' JSON form."""
    kind = msg["kind"]
    if kind == "request":
        c = msg["command"]
        p = b""
        if c == "set_power":
            p = s16(msg["power_deci_dbm"])
        elif c == "set_channel":
            p = u16(msg["channel"])
        elif c == "ping":
            p = bytes.fromhex(msg["data"])
        elif c == "set_telemetry_rate":
            p = u16(msg["hz"])
        return COMMANDS[c], seq, p
    if kind == "response":
        c = msg["command"]
        t = COMMANDS[c] | 0x80
        status = msg["status"]
        if status != "ok":
            return t, seq, bytes([STATUS[status]])
        p = b"\x00"
        if c == "identify":
            i = msg["identity"]
            p += (bytes([i["protocol_version"]]) + s16(i["power_min_deci_dbm"]) + s16(i["power_max_deci_dbm"])
                  + u16(i["channel_min"]) + u16(i["channel_max"])
                  + string(i["model"]) + string(i["serial_number"]) + string(i["firmware_version"]))
        elif c == "set_power":
            p += s16(msg["power_deci_dbm"])
        elif c == "set_channel":
            p += u16(msg["channel"])
        elif c == "get_state":
            st = msg["state"]
            p += (s16(st["power_deci_dbm"]) + u16(st["channel"]) + bytes([{"rx": 0, "tx": 1}[st["mode"]]])
                  + u16(st["telemetry_hz"]) + measurements(st["measurements"]))
        elif c == "ping":
            p += bytes.fromhex(msg["data"])
        elif c == "set_telemetry_rate":
            p += u16(msg["hz"])
        return t, seq, p
    if kind == "telemetry":
        return TELEMETRY, msg["sequence"], struct.pack("<I", msg["uptime_ms"]) + measurements(msg["measurements"])
    if kind == "link":
        # §6.4: u8 state (0 down, 1 up), then the reason as UTF-8; sequence 0.
        return LINK, 0, bytes([1 if msg["up"] else 0]) + msg["reason"].encode()
    raise ValueError(kind)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def encode_daemon(msg, seq):
    """(type, sequence, payload) for a §11 daemon message in the vectors' JSON form."""
    kind = msg["kind"]
    if kind == "request":
        c = msg["command"]
        if c == "lock":
            flags = (1 if msg["keep"] else 0) | (2 if msg["wait"] else 0)
            p = bytes([flags]) + u32(msg["seconds"]) + string(msg["holder"]) + msg["reason"].encode()
        elif c == "unlock":
            p = bytes([1 if msg["force"] else 0]) + u64(int(msg["token"], 16))
        elif c == "lease":
            p = b""
        elif c == "claim":
            p = u64(int(msg["token"], 16))
        elif c == "status":
            p = u32(msg["offset"])
        else:
            raise ValueError(c)
        return DAEMON_COMMANDS[c], seq, p
    if kind == "response":
        c = msg["command"]
        t = DAEMON_COMMANDS[c] | 0x80
        if msg["status"] != "ok":
            return t, seq, bytes([DAEMON_STATUS[msg["status"]]])
        p = b"\x00"
        if c == "lock":
            p += u64(int(msg["token"], 16)) + u32(msg["left_s"]) + bytes([1 if msg["renewed"] else 0])
        elif c == "unlock":
            p += bytes([1 if msg["released"] else 0])
        elif c == "lease":
            lease = msg["lease"]
            if lease is None:
                p += b"\x00"
            else:
                flags = (1 if lease["keep"] else 0) | (2 if lease["yours"] else 0)
                p += (b"\x01" + bytes([flags]) + u32(lease["held_s"]) + u32(lease["left_s"]) + u16(lease["waiting"])
                      + string(lease["holder"]) + lease["reason"].encode())
        elif c == "claim":
            p += u32(msg["left_s"])
        elif c == "status":
            p += u32(msg["total"]) + msg["text"].encode()
        return t, seq, p
    if kind == "lease":
        return LEASE, seq, (bytes([LEASE_EVENTS[msg["event"]]]) + u32(msg["held_s"]) + u32(msg["left_s"])
                            + string(msg["holder"]) + msg["reason"].encode())
    raise ValueError(kind)


M1 = {"rssi_deci_dbm": -712, "snr_deci_db": 438, "temperature_deci_c": 412,
      "supply_mv": 13790, "forward_deci_dbm": 198, "reflected_deci_dbm": -12}
IDENTITY = {"model": "RS-100", "serial_number": "A1B2C3", "firmware_version": "2.4.1",
            "protocol_version": 1, "power_min_deci_dbm": -100, "power_max_deci_dbm": 300,
            "channel_min": 1, "channel_max": 1024}

MESSAGES = [
    ("Identify request", 1, {"kind": "request", "command": "identify"}),
    ("Identify response", 1, {"kind": "response", "command": "identify", "status": "ok", "identity": IDENTITY}),
    ("SetPower 12.5 dBm", 2, {"kind": "request", "command": "set_power", "power_deci_dbm": 125}),
    ("SetPower -3.0 dBm", 3, {"kind": "request", "command": "set_power", "power_deci_dbm": -30}),
    ("SetPower response ok", 2, {"kind": "response", "command": "set_power", "status": "ok", "power_deci_dbm": 125}),
    ("SetPower response out of range", 4, {"kind": "response", "command": "set_power", "status": "out_of_range"}),
    ("SetChannel 42", 5, {"kind": "request", "command": "set_channel", "channel": 42}),
    ("SetChannel 256 (zero byte in payload)", 6, {"kind": "request", "command": "set_channel", "channel": 256}),
    ("SetChannel response ok", 5, {"kind": "response", "command": "set_channel", "status": "ok", "channel": 42}),
    ("GetState request", 7, {"kind": "request", "command": "get_state"}),
    ("GetState response", 7, {"kind": "response", "command": "get_state", "status": "ok",
                               "state": {"power_deci_dbm": 125, "channel": 42, "mode": "tx", "telemetry_hz": 10,
                                         "measurements": M1}}),
    ("Ping empty", 8, {"kind": "request", "command": "ping", "data": ""}),
    ("Ping with zeros and 0xFF", 9, {"kind": "request", "command": "ping", "data": "00ff0000ff01"}),
    ("Pong", 9, {"kind": "response", "command": "ping", "status": "ok", "data": "00ff0000ff01"}),
    ("SetTelemetryRate 100 Hz", 10, {"kind": "request", "command": "set_telemetry_rate", "hz": 100}),
    ("SetTelemetryRate response", 10, {"kind": "response", "command": "set_telemetry_rate", "status": "ok", "hz": 100}),
    ("Busy", 11, {"kind": "response", "command": "get_state", "status": "busy"}),
    ("Unknown command reply", 12, {"kind": "response", "command": "ping", "status": "unknown_command"}),
    ("Telemetry", None, {"kind": "telemetry", "sequence": 513, "uptime_ms": 123456, "measurements": M1}),
    ("Link down (from a sharing daemon)", None, {"kind": "link", "up": False, "reason": "/dev/ttyUSB0: EOF"}),
    ("Link up", None, {"kind": "link", "up": True, "reason": ""}),
    ("Sequence 0xFFFF", 0xFFFF, {"kind": "request", "command": "ping", "data": "ab"}),
    ("Ping, 249-byte payload (largest frame)", 13,
     {"kind": "request", "command": "ping", "data": bytes((i % 255) + 1 for i in range(249)).hex()}),
]


TOKEN = "8f3a2b1c0d4e5f60"
STATUS_DOC = '{"clients":[],"clients_connected":0,"counters":{},"lease":null,"link":{"up":true},"listening":[],' \
    '"radio":null,"radio_port":"/dev/ttyUSB0","uptime_s":1.5,"version":"radio-cli"}'

DAEMON_MESSAGES = [
    ("Lock 10 min, keep, with a reason", 21, {"kind": "request", "command": "lock", "keep": True, "wait": False,
                                             "seconds": 600, "holder": "alice@lab-pc-3:4242", "reason": "BER sweep"}),
    ("Lock 90 s, wait, no reason", 22, {"kind": "request", "command": "lock", "keep": False, "wait": True,
                                        "seconds": 90, "holder": "bob@lab-pc-4:17", "reason": ""}),
    ("Lock granted", 21, {"kind": "response", "command": "lock", "status": "ok", "token": TOKEN, "left_s": 600,
                          "renewed": False}),
    ("Lock renewed", 23, {"kind": "response", "command": "lock", "status": "ok", "token": TOKEN, "left_s": 600,
                          "renewed": True}),
    ("Lock refused: busy", 24, {"kind": "response", "command": "lock", "status": "busy"}),
    ("Lock seconds out of range", 25, {"kind": "response", "command": "lock", "status": "out_of_range"}),
    ("Unlock this connection's lease", 26, {"kind": "request", "command": "unlock", "force": False,
                                            "token": "0000000000000000"}),
    ("Unlock by token, forced", 27, {"kind": "request", "command": "unlock", "force": True, "token": TOKEN}),
    ("Unlock done", 26, {"kind": "response", "command": "unlock", "status": "ok", "released": True}),
    ("Unlock: token not held", 27, {"kind": "response", "command": "unlock", "status": "not_held"}),
    ("Lease request", 28, {"kind": "request", "command": "lease"}),
    ("Lease: free", 28, {"kind": "response", "command": "lease", "status": "ok", "lease": None}),
    ("Lease: held, kept, yours, 2 waiting", 29, {"kind": "response", "command": "lease", "status": "ok",
                                                 "lease": {"keep": True, "yours": True, "held_s": 75, "left_s": 525,
                                                           "waiting": 2, "holder": "alice@lab-pc-3:4242",
                                                           "reason": "BER sweep"}}),
    ("Claim", 30, {"kind": "request", "command": "claim", "token": TOKEN}),
    ("Claim ok", 30, {"kind": "response", "command": "claim", "status": "ok", "left_s": 525}),
    ("Claim: not held", 31, {"kind": "response", "command": "claim", "status": "not_held"}),
    ("Status from offset 0", 32, {"kind": "request", "command": "status", "offset": 0}),
    ("Status from offset 245", 33, {"kind": "request", "command": "status", "offset": 245}),
    ("Status page (the whole document)", 32, {"kind": "response", "command": "status", "status": "ok",
                                              "total": len(STATUS_DOC), "text": STATUS_DOC}),
    ("Status offset past the end", 34, {"kind": "response", "command": "status", "status": "out_of_range"}),
    ("Lease notice: refused (the refused request's number)", 35,
     {"kind": "lease", "event": "refused", "held_s": 75, "left_s": 525, "holder": "alice@lab-pc-3:4242",
      "reason": "BER sweep"}),
    ("Lease notice: taken", 0, {"kind": "lease", "event": "taken", "held_s": 0, "left_s": 600,
                                "holder": "alice@lab-pc-3:4242", "reason": "BER sweep"}),
    ("Lease notice: revoked", 0, {"kind": "lease", "event": "revoked", "held_s": 600, "left_s": 0,
                                  "holder": "alice@lab-pc-3:4242", "reason": "revoked by 127.0.0.1:50412"}),
    ("SetPower refused under a lease: busy", 35, {"kind": "response", "command": "set_power", "status": "busy"}),
]

DAEMON_ERRORS = [
    ("Lock with flag bit 2 set", 0x20, bytes([4]) + u32(60) + string("a@b:1"), "malformed_payload"),
    ("Lock with an empty holder", 0x20, bytes([0]) + u32(60) + string(""), "malformed_payload"),
    ("Lock with a 201-byte reason", 0x20, bytes([0]) + u32(60) + string("a@b:1") + b"r" * 201, "malformed_payload"),
    ("Lock with a newline in its reason", 0x20, bytes([0]) + u32(60) + string("a@b:1") + b"ok\nFAKE LOG LINE",
     "malformed_payload"),
    ("Lock with an escape sequence in its holder", 0x20, bytes([0]) + u32(60) + string("a\x1b[2J@b:1"), "malformed_payload"),
    ("Unlock without a token", 0x21, b"\x00", "malformed_payload"),
    ("Lease with a payload", 0x22, b"\x00", "malformed_payload"),
    ("Status with a 2-byte offset", 0x24, b"\x00\x00", "malformed_payload"),
    ("reserved daemon type 0x25", 0x25, b"", "unknown_type"),
    ("Lease notice with event 6", LEASE, bytes([6]) + u32(0) + u32(0) + string("a@b:1"), "malformed_payload"),
]


def build():
    daemon = []
    for name, seq, msg in DAEMON_MESSAGES:
        if msg["kind"] == "response" and msg["command"] in COMMANDS:
            t, s, p = encode_message(msg, seq)
        else:
            t, s, p = encode_daemon(msg, seq)
        daemon.append({"name": name, "wire": frame_wire(t, s, p).hex(),
                       "frame": {"version": VERSION, "type": t, "sequence": s, "payload": p.hex()}, "message": msg})
    daemon_errors = [{"name": n, "wire": frame_wire(t, 1, p).hex(), "error": e} for n, t, p, e in DAEMON_ERRORS]

    frames = []
    for name, seq, msg in MESSAGES:
        t, s, p = encode_message(msg, seq)
        wire = frame_wire(t, s, p)
        frames.append({"name": name, "wire": wire.hex(),
                       "frame": {"version": VERSION, "type": t, "sequence": s, "payload": p.hex()},
                       "message": msg})

    good = frame_wire(0x04, 7, b"")
    good2 = frame_wire(0x02, 2, s16(125))
    bad_crc = bytearray(good)
    bad_crc[2] ^= 0x01
    streams = []

    def stream(name, data, note):
        streams.append({"name": name, "note": note, "wire": bytes(data).hex(), "events": decode_stream(bytes(data))})

    stream("two frames in one read", good + good2, "Both frames decode, in order.")
    stream("leading delimiters are ignored", b"\x00\x00" + good, "Empty runs between delimiters are not errors.")
    stream("garbage then a frame", b"\x13\x37\x42\x00" + good, "The garbage run fails; the frame after it decodes.")
    stream("garbage with no delimiter runs into the frame", b"\x13\x37" + good + good2,
           "The garbage joins the first frame's run, which then fails; the next frame decodes.")
    stream("corrupt CRC then a good frame", bytes(bad_crc) + good2, "crc_mismatch, then the good frame.")
    stream("truncated frame then a good frame", good[:4] + b"\x00" + good2,
           "A run cut short fails to decode (here: too short), then the good frame.")
    stream("invalid COBS (block runs past the delimiter)", b"\x05\x01\x02\x00" + good,
           "invalid_cobs, then the good frame.")
    stream("too short (valid COBS, 3 bytes)", b"\x04\x01\x01\x01\x00", "too_short.")
    stream("oversized run", b"\x01" * (MAX_ENCODED + 10) + b"\x00" + good,
           "More than the maximum encoded size without a delimiter: discarded, one oversized error, "
           "then the next frame decodes.")
    stream("wrong protocol version decodes as a frame", frame_wire(0x01, 1, b"", version=2),
           "The frame layer accepts it; the message layer rejects version 2 (see message_errors).")

    cobs = []
    for raw in [b"", b"\x00", b"\x00\x00", b"\x11\x22\x00\x33", b"\x11\x22\x33\x44", b"\x11\x00\x00\x00",
                bytes(range(1, 255)), bytes(range(0, 255)), bytes(range(1, 256)), bytes(range(2, 256)) + b"\x00",
                bytes(range(3, 256)) + b"\x00\x01"]:
        cobs.append({"raw": raw.hex(), "encoded": cobs_encode(raw).hex()})

    message_errors = [
        {"name": "SetPower with a 1-byte payload", "wire": frame_wire(0x02, 1, b"\x05").hex(), "error": "malformed_payload"},
        {"name": "SetChannel with a 3-byte payload", "wire": frame_wire(0x03, 1, b"\x01\x00\x00").hex(), "error": "malformed_payload"},
        {"name": "Identify with a payload", "wire": frame_wire(0x01, 1, b"\x00").hex(), "error": "malformed_payload"},
        {"name": "unknown request type 0x3F", "wire": frame_wire(0x3F, 1, b"").hex(), "error": "unknown_type"},
        {"name": "protocol version 2", "wire": frame_wire(0x01, 1, b"", version=2).hex(), "error": "unsupported_version"},
        {"name": "GetState response with mode 7", "wire": frame_wire(0x84, 1, b"\x00" + s16(1) + u16(1) + b"\x07" + u16(0) + measurements(M1)).hex(),
         "error": "malformed_payload"},
        {"name": "Identify response with invalid UTF-8", "wire": frame_wire(0x81, 1, b"\x00\x01" + s16(0) + s16(1) + u16(0) + u16(1) + b"\x01\xff\x00\x00").hex(),
         "error": "malformed_payload"},
        {"name": "error response with extra bytes", "wire": frame_wire(0x82, 1, b"\x01\x00").hex(), "error": "malformed_payload"},
        {"name": "empty response payload (no status)", "wire": frame_wire(0x82, 1, b"").hex(), "error": "malformed_payload"},
        # A frame may carry 250 payload bytes, but a Ping may carry only 249:
        # its Pong adds a status byte. (Found by fuzzing the Swift parser.)
        {"name": "Link notice with state 2", "wire": frame_wire(LINK, 0, b"\x02").hex(), "error": "malformed_payload"},
        {"name": "Link notice with no payload", "wire": frame_wire(LINK, 0, b"").hex(), "error": "malformed_payload"},
        {"name": "Link notice with invalid UTF-8", "wire": frame_wire(LINK, 0, b"\x00\xc3").hex(), "error": "malformed_payload"},
        {"name": "Ping with a 250-byte payload", "wire": frame_wire(0x05, 1, bytes(range(1, 251))).hex(),
         "error": "malformed_payload"},
    ]

    return {
        "description": "Test vectors for docs/PROTOCOL.md. Generated by scripts/vectors.py, an independent "
                       "implementation of the spec; the Swift codec's tests run over this file. Hex is lower-case, "
                       "no separators; 'wire' includes the trailing 0x00 delimiter.",
        "protocol_version": VERSION,
        "limits": {"max_payload": MAX_PAYLOAD, "max_raw_frame": MAX_RAW, "max_encoded_frame": MAX_ENCODED},
        "crc": {"name": "CRC-16/CCITT-FALSE", "poly": "1021", "init": "ffff", "refin": False, "refout": False,
                "xorout": "0000", "check_input_ascii": "123456789", "check": "%04x" % crc16_ccitt_false(b"123456789")},
        "cobs": cobs,
        "frames": frames,
        "streams": streams,
        "message_errors": message_errors,
        "daemon": daemon,
        "daemon_errors": daemon_errors,
    }


def main():
    path = Path(__file__).resolve().parent.parent / "docs" / "vectors.json"
    text = json.dumps(build(), indent=1) + "\n"
    if sys.argv[1:] == ["--write"]:
        path.write_text(text)
        print(f"wrote {path}")
    elif sys.argv[1:] == ["--check"]:
        if not path.exists() or path.read_text() != text:
            print(f"{path} differs from what scripts/vectors.py generates; run it with --write", file=sys.stderr)
            sys.exit(1)
        assert crc16_ccitt_false(b"123456789") == 0x29B1
        print("vectors: docs/vectors.json matches the Python reference implementation")
    else:
        print("usage: vectors.py --write | --check", file=sys.stderr)
        sys.exit(64)


if __name__ == "__main__":
    main()
