#!/usr/bin/env python3
"""Peers that misbehave on purpose, for Tests/EndToEndTests/HostilePeerTests.

  hostile_peer.py iac-flood      a TCP server that streams telnet commands
                                 (IAC DO <option> for every option, over and
                                 over) at each client for 60 s, and no data
  hostile_peer.py junk-flood     the same with random bytes
  hostile_peer.py tcp-stuck      a TCP listener that never accepts, its
                                 backlog already full
  hostile_peer.py unix-stuck P   the same on a Unix socket at path P
  hostile_peer.py half-close HOST PORT N
                                 a client of a sharing daemon that sends N
                                 pings, shuts down its sending side (as
                                 `nc -N` does) and reads until the daemon
                                 closes; prints {"replies": R, "closed": B}
  hostile_peer.py pipeline HOST PORT C N
                                 C clients each send N 249-byte pings at once
                                 without reading; prints "sent" and stays
                                 (60 s at most)
  hostile_peer.py greedy HOST PORT N SECONDS
                                 one client that keeps N 249-byte pings in
                                 flight for SECONDS, reading each reply and
                                 sending the next; prints "started" at once
                                 and {"replies": R} at the end
  hostile_peer.py churn HOST PORT N
                                 N connections opened and closed at once, one
                                 after another, then one that pings; prints
                                 {"pong": B}
  hostile_peer.py slowloris HOST PORT
                                 connects, sends one byte of a frame, never the
                                 rest; prints {"closed": B} once the daemon
                                 closes it (10 s at most)
  hostile_peer.py listen HOST PORT
                                 connects, sends nothing, prints what comes back
                                 until the daemon closes it (5 s at most):
                                 {"closed": B, "link": [reasons]}

The servers print one line when ready: the TCP port, or the socket path,
and run until killed (60 s at most)."""
import json
import os
import socket
import struct
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "scripts"))
from vectors import COMMANDS, TELEMETRY, decode_stream, frame_wire  # noqa: E402


def flood(make_chunk):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    print(server.getsockname()[1], flush=True)

    def serve(conn):
        end = time.monotonic() + 60
        try:
            while time.monotonic() < end:
                conn.sendall(make_chunk())
        except OSError:
            pass
        conn.close()

    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def stuck(family, address):
    """A listener with a backlog of 0 that never accepts, filled up by
    connections of our own, so that the next connect has to wait."""
    server = socket.socket(family)
    server.bind(address)
    server.listen(0)
    address = server.getsockname()
    held = []
    for _ in range(8):
        c = socket.socket(family)
        c.setblocking(False)
        try:
            c.connect(address)
        except BlockingIOError:
            pass  # TCP: the SYN waits in the queue
        except OSError:
            break  # Unix: the backlog is full
        held.append(c)
    time.sleep(0.2)
    print(address[1] if family == socket.AF_INET else address, flush=True)
    time.sleep(60)


def half_close(host, port, n):
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(b"\x00" + b"".join(frame_wire(COMMANDS["ping"], seq, struct.pack("<I", seq))
                                     for seq in range(1, n + 1)))
    sock.shutdown(socket.SHUT_WR)
    frames, closed = read_frames(sock, 10)
    replies = {f["sequence"] for f in frames if f["type"] == 0x80 | COMMANDS["ping"]}
    print(json.dumps({"replies": len(replies), "closed": closed}))
    return 0


def read_frames(sock, seconds):
    """Frames from `sock` until it closes or `seconds` pass; and whether it closed."""
    frames, pending = [], b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            return frames, False
        except OSError:
            return frames, True
        if not chunk:
            return frames, True
        pending += chunk
        cut = pending.rfind(b"\x00") + 1
        complete, pending = pending[:cut], pending[cut:]
        frames += [e["frame"] for e in decode_stream(complete) if "frame" in e]
    return frames, False


def pipeline(host, port, clients, n):
    held = []
    for _ in range(clients):
        sock = socket.create_connection((host, port), timeout=5)
        sock.setblocking(False)
        data = b"\x00" + b"".join(frame_wire(COMMANDS["ping"], seq, bytes(249)) for seq in range(1, n + 1))
        try:
            sock.send(data)
        except BlockingIOError:
            pass
        held.append(sock)
    print("sent", flush=True)
    time.sleep(60)
    return 0


def greedy(host, port, n, seconds):
    sock = socket.create_connection((host, port), timeout=5)
    seq = 0

    def ping():
        nonlocal seq
        seq = seq % 60000 + 1
        return frame_wire(COMMANDS["ping"], seq, bytes(249))

    sock.sendall(b"\x00" + b"".join(ping() for _ in range(n)))
    print("started", flush=True)
    replies, pending = 0, b""
    end = time.monotonic() + seconds
    sock.settimeout(0.5)
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        pending += chunk
        cut = pending.rfind(b"\x00") + 1
        complete, pending = pending[:cut], pending[cut:]
        answered = sum(1 for e in decode_stream(complete)
                       if "frame" in e and e["frame"]["type"] == 0x80 | COMMANDS["ping"])
        replies += answered
        if answered:
            sock.sendall(b"".join(ping() for _ in range(answered)))
    print(json.dumps({"replies": replies}), flush=True)
    return 0


def churn(host, port, n):
    for _ in range(n):
        socket.create_connection((host, port), timeout=5).close()
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(b"\x00" + frame_wire(COMMANDS["ping"], 1, b"\x2a"))
    frames, _ = read_frames(sock, 5)
    print(json.dumps({"pong": any(f["type"] == 0x80 | COMMANDS["ping"] for f in frames)}), flush=True)
    return 0


def slowloris(host, port):
    sock = socket.create_connection((host, port), timeout=5)
    sock.sendall(b"\x04")  # the COBS code byte of a frame that never ends
    _, closed = read_frames(sock, 10)
    print(json.dumps({"closed": closed}))
    return 0


def listen(host, port):
    sock = socket.create_connection((host, port), timeout=5)
    frames, closed = read_frames(sock, 5)
    reasons = [bytes.fromhex(f["payload"])[1:].decode(errors="replace") for f in frames if f["type"] == 0x41]
    print(json.dumps({"closed": closed, "link": reasons}))
    return 0


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "iac-flood":
        chunk = bytes(b for option in range(256) for b in (255, 253, option))
        flood(lambda: chunk)
    elif mode == "junk-flood":
        flood(lambda: os.urandom(4096))
    elif mode == "tcp-stuck":
        stuck(socket.AF_INET, ("127.0.0.1", 0))
    elif mode == "unix-stuck" and len(argv) == 3:
        stuck(socket.AF_UNIX, argv[2])
    elif mode == "half-close" and len(argv) == 5:
        return half_close(argv[2], int(argv[3]), int(argv[4]))
    elif mode == "pipeline" and len(argv) == 6:
        return pipeline(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    elif mode == "greedy" and len(argv) == 6:
        return greedy(argv[2], int(argv[3]), int(argv[4]), float(argv[5]))
    elif mode == "churn" and len(argv) == 5:
        return churn(argv[2], int(argv[3]), int(argv[4]))
    elif mode == "slowloris" and len(argv) == 4:
        return slowloris(argv[2], int(argv[3]))
    elif mode == "listen" and len(argv) == 4:
        return listen(argv[2], int(argv[3]))
    else:
        print(__doc__, file=sys.stderr)
        return 64
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
