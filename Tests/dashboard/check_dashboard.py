#!/usr/bin/env python3
"""Checks performance-reports/index.html in headless Chromium.

Builds a history of six fast runs (the baseline's benchmarks; a change of
measuring method after the second; the latest with SetPower/pty 30 % over
its baseline and SetPower/loopback allocating), draws the dashboard with
scripts/perfreport.py, and loads it in Chromium over the DevTools protocol
(--remote-debugging-pipe):
  - no console errors, no uncaught exceptions, no network requests;
  - every benchmark has a card with its charts, laid out with a size;
  - a full-page screenshot has chart ink (the line colour) inside every
    card's box;
  - the regressions are the highlighted rows and cards, and only they;
  - the "only failing" switch hides the others.
Prints one JSON line with what it saw; exit 0 when all hold, 1 otherwise.
Usage: check_dashboard.py CHROMIUM [SCREENSHOT.png]
CHROMIUM is the browser binary itself (Debian: /usr/lib/chromium/chromium;
/usr/bin/chromium is a shell launcher that does not pass fds 3 and 4 on).
"""
import base64
import copy
import fcntl
import json
import os
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def history(base):
    runs = []
    for i in range(6):
        r = copy.deepcopy(base)
        r["mode"] = "fast"
        r["timestamp"] = f"2026120{i + 1}T1{i}0000Z"
        r["revision"] = f"rev{i}"
        r["method"] = "p50" if i < 2 else "paired-2"
        for name, b in r["benchmarks"].items():
            b["rounds"] = 3
            if b.get("p50_ns"):
                b["p50_rounds_ns"] = [b["p50_ns"] * f for f in (0.9, 1.0, 1.2)]
                b["p50_min_ns"] = b["p50_ns"] * 0.9
            if i < 2:
                b.pop("relative", None)
            elif b.get("relative") is not None:
                b["relative"] *= 1.0 + 0.02 * ((i * 7 + len(name)) % 5 - 2)
        if i == 5:
            r["benchmarks"]["SetPower/pty"]["relative"] = base["benchmarks"]["SetPower/pty"]["relative"] * 1.3
            r["benchmarks"]["SetPower/loopback"]["mallocs_p50"] = 9.0
        runs.append(r)
    return runs


class Browser:
    """Chromium over --remote-debugging-pipe: JSON messages, NUL-separated,
    written to its fd 3 and read from its fd 4."""

    def __init__(self, chromium, profile):
        self.log = Path(profile).with_suffix(".log")
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", "--no-first-run",
             "about:blank"],
            # The child's fds 3 and 4 are made in preexec_fn, which runs before
            # Popen closes the fds it was not asked to keep: so none are closed.
            close_fds=False, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),
            preexec_fn=lambda: Browser.place(to_r, from_w))
        os.close(to_r)
        os.close(from_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    @staticmethod
    def place(reading, writing):
        # Copied to fresh numbers (>= 100, so never 3 or 4, nor each other)
        # before they become 3 and 4: either may already be 3 or 4.
        r = fcntl.fcntl(reading, fcntl.F_DUPFD, 100)
        w = fcntl.fcntl(writing, fcntl.F_DUPFD, 100)
        os.dup2(r, 3)
        os.dup2(w, 4)

    def send(self, method, session=None, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.to_w, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def read(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_r, 1 << 20)
            if not chunk:
                tail = self.log.read_text(errors="replace").splitlines()[-5:] if self.log.exists() else []
                raise RuntimeError("chromium closed the pipe: " + " | ".join(tail))
            self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def wait_for(self, method, limit=400):
        for e in self.events:
            if e.get("method") == method:
                return e
        for _ in range(limit):
            e = self.read()
            self.events.append(e)
            if e.get("method") == method:
                return e
        raise RuntimeError(f"no {method}")

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        self.proc.wait(timeout=20)


def png_pixels(data):
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6), (depth, colour)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main():
    chromium = sys.argv[1]
    shot_path = sys.argv[2] if len(sys.argv) > 2 else None
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "reports"
        out.mkdir()
        base = json.loads((ROOT / "performance-reports" / "baseline.json").read_text())
        base["method"] = "paired-2"
        (out / "baseline.json").write_text(json.dumps(base))
        with open(out / "history.jsonl", "w") as f:
            for r in history(base):
                f.write(json.dumps(r) + "\n")
        subprocess.run([sys.executable, str(ROOT / "scripts" / "perfreport.py"), "dashboard", str(out)],
                       check=True, stdout=subprocess.DEVNULL)
        page = out / "index.html"
        html = page.read_text()
        for needle in ("src=", "href=", "url(", "@import", "fetch(", "XMLHttpRequest"):
            if needle in html:
                problems.append(f"the page refers to something outside it: {needle}")
        if "http" in html.replace('xmlns="http://www.w3.org/2000/svg"', ""):
            problems.append("the page holds a URL")

        browser = Browser(chromium, Path(tmp) / "profile")
        try:
            target = browser.send("Target.createTarget", url="about:blank")["targetId"]
            session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log", "Network"):
                browser.send(f"{domain}.enable", session)
            browser.send("Emulation.setDeviceMetricsOverride", session, width=1500, height=1000,
                         deviceScaleFactor=1, mobile=False)
            browser.send("Page.navigate", session, url=page.as_uri())
            browser.wait_for("Page.loadEventFired")

            def evaluate(expression):
                r = browser.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
                if "exceptionDetails" in r:
                    raise RuntimeError(f"{expression}: {r['exceptionDetails']}")
                return r["result"].get("value")

            # The viewport made as tall as the page, so that layout, the boxes
            # read below and the screenshot all agree.
            size = evaluate("({w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight})")
            browser.send("Emulation.setDeviceMetricsOverride", session, width=1500, height=size["h"],
                         deviceScaleFactor=1, mobile=False)
            size = evaluate("({w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight})")
            cards = evaluate("""[...document.querySelectorAll('.card')].map(c => {
                const r = c.getBoundingClientRect();
                return {name: c.dataset.benchmark, fail: c.classList.contains('fail'),
                        svgs: [...c.querySelectorAll('svg')].filter(s => s.getBoundingClientRect().width > 100).length,
                        x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height};
            })""")
            failing_rows = evaluate("[...document.querySelectorAll('tr.fail td:first-child')].map(t => t.textContent)")
            shot = browser.send("Page.captureScreenshot", session, format="png",
                                clip={"x": 0, "y": 0, "width": size["w"], "height": size["h"], "scale": 1})
            png = base64.b64decode(shot["data"])
            if shot_path:
                Path(shot_path).write_bytes(png)
            evaluate("document.getElementById('only-failing').click()")
            shown = evaluate("[...document.querySelectorAll('.card')].filter(c => c.offsetParent !== null)"
                             ".map(c => c.dataset.benchmark)")
        finally:
            browser.close()

    errors = []
    for e in browser.events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown":
            errors.append(p["exceptionDetails"].get("text", "exception"))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            errors.append("console." + p["type"])
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            errors.append(p["entry"].get("text", "log error"))
        elif m == "Network.requestWillBeSent" and not p["request"]["url"].startswith("file:"):
            errors.append("network request: " + p["request"]["url"])
    problems += [f"console: {e}" for e in errors]

    expected = sorted(base["benchmarks"])
    names = sorted(c["name"] for c in cards)
    if names != expected:
        problems.append(f"cards {names} are not the benchmarks {expected}")
    for c in cards:
        if c["svgs"] < 1 or c["w"] < 200 or c["h"] < 150:
            problems.append(f"{c['name']}: no chart laid out ({c})")
    want_fail = ["SetPower/loopback", "SetPower/pty"]
    if sorted(c["name"] for c in cards if c["fail"]) != want_fail:
        problems.append(f"highlighted cards {[c['name'] for c in cards if c['fail']]}, expected {want_fail}")
    if sorted(failing_rows) != want_fail:
        problems.append(f"highlighted rows {failing_rows}, expected {want_fail}")
    if sorted(shown) != want_fail:
        problems.append(f"with only failing shown: {shown}")

    width, height, bpp, rows = png_pixels(png)
    inked = 0
    for c in cards:
        x0, y0 = int(c["x"]), int(c["y"])
        x1, y1 = min(width, int(c["x"] + c["w"])), min(height, int(c["y"] + c["h"]))
        ink = 0
        for y in range(max(0, y0), y1, 2):
            row = rows[y]
            for x in range(max(0, x0), x1, 2):
                r, g, b = row[x * bpp], row[x * bpp + 1], row[x * bpp + 2]
                # The series colour, #1f77b4, give or take anti-aliasing.
                if b > 140 and r < 90 and 90 < g < 150:
                    ink += 1
        if ink < 20:
            problems.append(f"{c['name']}: no chart ink in its box on the screenshot ({ink} pixels)")
        else:
            inked += 1
    print(json.dumps({"cards": len(cards), "inked": inked, "screenshot": [width, height], "console_errors": errors,
                      "failing": failing_rows, "problems": problems}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
