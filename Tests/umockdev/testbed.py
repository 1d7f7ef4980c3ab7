#!/usr/bin/python3
"""Runs radio-cli against mocked USB-serial devices under umockdev.

  umockdev-wrapper /usr/bin/python3 testbed.py RADIO_CLI list      devices below, then `radio-cli list --json`
  umockdev-wrapper /usr/bin/python3 testbed.py RADIO_CLI run ARGS...
                                   the same devices, then `radio-cli ARGS...`
  umockdev-wrapper /usr/bin/python3 testbed.py UDEVADM udevadm
                                   the same devices, then `udevadm test` on
                                   them (run by udev-rules-test.sh)
  umockdev-wrapper /usr/bin/python3 testbed.py RADIO_CLI hotplug   one radio, `radio-cli list --watch --json`;
                                 then a second radio is plugged in and out
  umockdev-wrapper /usr/bin/python3 testbed.py RADIO_CLI stock RADIO_SIM ARGS...
                                   the stock adapters of devices/*.umockdev
                                   (see `stock` below), then `radio-cli ARGS...`
  umockdev-wrapper /usr/bin/python3 testbed.py RADIO_CLI stock-hotplug RADIO_SIM ARGS...
                                   the same without the FT230X, `radio-cli ARGS...`
                                   (a --watch), then the FT230X with its radio
                                   plugged in and out
  umockdev-wrapper /usr/bin/python3 testbed.py RADIO_CLI stock-reconnect RADIO_SIM ARGS...
                                   all of them, `radio-cli ARGS...` (a monitor),
                                   and the FT230X pulled out and plugged into
                                   another USB port

Prints what radio-cli printed on stdout (the Swift tests in
Tests/EndToEndTests/DiscoveryTests.swift check it) and exits with its
status; radio-cli's stderr goes to stderr. Needs Debian's umockdev,
gir1.2-umockdev-1.0 and python3-gi, and runs with /usr/bin/python3 (gi).

The devices: what the kernel and udev show for
  - an FTDI FT232R programmed with the radio's product string, latency
    timer at the default 16 ms, no udev rules (found by the ID table);
  - a CP210x radio the udev rules have tagged (ID_RADIO=1, /dev/radio link),
    latency timer not applicable;
  - an FTDI cable with the chip's own product string (not a radio);
  - an Arduino Uno on ttyACM0, cdc_acm (not a radio);
  - the console tty, with no USB parent at all.
"""
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tty

import gi

gi.require_version("UMockdev", "1.0")
from gi.repository import UMockdev  # noqa: E402


def bind(tb, syspath, bus, driver):
    """Links the device to its driver as the kernel does (`driver` in sysfs),
    which is what udev's DRIVER and libudev's udev_device_get_driver read."""
    root = tb.get_root_dir()
    driver_dir = f"{root}/sys/bus/{bus}/drivers/{driver}"
    os.makedirs(driver_dir, exist_ok=True)
    os.symlink(os.path.relpath(driver_dir, root + syspath), f"{root}{syspath}/driver")


def usb_serial(tb, bus_port, vendor, product, serial, manufacturer, product_name, driver, tty,
               latency=None, tagged=False, via_usb_serial=True):
    """Adds a USB device, its interface, (its usb-serial port) and its tty; returns the tty's syspath."""
    dev = tb.add_device("usb", f"usb1/{bus_port}", None,
                         ["idVendor", vendor, "idProduct", product, "serial", serial,
                          "manufacturer", manufacturer, "product", product_name],
                         ["DEVTYPE", "usb_device", "DRIVER", "usb"])
    iface = tb.add_device("usb", f"{bus_port}:1.0", dev, ["bInterfaceNumber", "00", "bInterfaceClass", "ff"],
                          ["DEVTYPE", "usb_interface", "DRIVER", driver])
    bind(tb, iface, "usb", driver)
    parent = iface
    if via_usb_serial:
        attrs = ["latency_timer", str(latency)] if latency is not None else []
        parent = tb.add_device("usb-serial", tty, iface, attrs, ["DRIVER", driver])
        bind(tb, parent, "usb-serial", driver)
    props = ["DEVNAME", f"/dev/{tty}", "MAJOR", "188", "MINOR", str(int("".join(c for c in tty if c.isdigit()) or 0))]
    if tagged:
        props += ["ID_RADIO", "1", "ID_RADIO_SERIAL", serial, "DEVLINKS", f"/dev/radio/{serial}"]
    return tb.add_device("tty", tty, parent, [], props)


def udevadm_test(tb, udevadm):
    """`udevadm test` on the FTDI radio's tty and port, and on the plain FTDI
    cable's tty, with the rules in /run/udev/rules.d (udev-rules-test.sh puts
    them there, in a private /run). The links udev makes land in the
    testbed's /dev, whose folders are made first; anything new in the real
    /dev afterwards is an error."""
    for d in ("radio", "char", "serial/by-id", "serial/by-path"):
        os.makedirs(f"{tb.get_root_dir()}/dev/{d}", exist_ok=True)
    before = set(os.listdir("/dev"))
    status = 0
    for syspath in ("/sys/devices/usb1/1-1/1-1:1.0/ttyUSB0/ttyUSB0", "/sys/devices/usb1/1-1/1-1:1.0/ttyUSB0",
                    "/sys/devices/usb1/1-3/1-3:1.0/ttyUSB2/ttyUSB2", "/sys/devices/usb1/1-6/1-6:1.0/ttyUSB6/ttyUSB6"):
        done = subprocess.run([udevadm, "test", "--action=add", syspath], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=60)
        print(f"### {syspath}")
        sys.stdout.write(done.stdout.decode(errors="replace"))
        status = status or done.returncode
    leaked = set(os.listdir("/dev")) - before
    if leaked:
        print(f"testbed.py: udevadm test wrote to the real /dev: {sorted(leaked)}", file=sys.stderr)
        return 70
    return status


def description(name):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "devices", name + ".umockdev")
    with open(path) as f:
        return "".join(line for line in f if not line.startswith("#"))


def load(tb, name, text=None):
    """Adds the devices of devices/NAME.umockdev (umockdev's record format,
    a device and then its parents; the `#` comments are ours and dropped). A tty with an `N:` line gets a
    device node that is a pty, whose master get_dev_fd gives."""
    text = text if text is not None else description(name)
    # Parents first, as the kernel adds them: a tty's "add" uevent then
    # finds its USB device already there.
    records = [r.strip() + "\n" for r in text.split("\n\n") if r.strip()]
    for record in sorted(records, key=lambda r: r.split("\n", 1)[0].count("/")):
        tb.add_from_string(record)


def relay(master, sim):
    """Copies bytes both ways between the mock's pty master and radio-sim's
    pty, until the event it returns is set. While nobody has the mocked tty
    open, its master reads EIO (and polls as ready): that is a closed line,
    not an end, so the relay waits."""
    stop = threading.Event()

    def run():
        while not stop.is_set():
            try:
                ready, _, _ = select.select([master, sim], [], [], 0.05)
            except (OSError, ValueError):
                return
            for src in ready:
                try:
                    data = os.read(src, 4096)
                except OSError:
                    if src == master:
                        time.sleep(0.005)
                        continue
                    return
                if not data:
                    return
                if stop.is_set():
                    return
                try:
                    os.write(sim if src == master else master, data)
                except OSError:
                    pass  # the mocked tty closed between the read and the write
    threading.Thread(target=run, daemon=True).start()
    return stop


def drain(fd):
    """The bytes waiting on a pty master, without waiting for more."""
    data = b""
    while select.select([fd], [], [], 0)[0]:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: nobody has the tty open now
            break
        if not chunk:
            break
        data += chunk
    return data


def start_radio_sim(radio_sim, workdir, serial, telemetry_hz=0):
    """A radio-sim serving its own pty at WORKDIR/sim.pty, without umockdev's
    preload (on the real /dev); returns the process and the pty, opened raw."""
    link = os.path.join(workdir, "sim.pty")
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "UMOCKDEV_DIR")}
    sim = subprocess.Popen([radio_sim, "--link", link, "--serial-number", serial, "--telemetry-hz", str(telemetry_hz)],
                           stdout=subprocess.PIPE, env=env)
    sim.stdout.readline()  # its pty's name: it is serving
    fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    return sim, fd


def read_until(child, lines, needle, limit=20.0):
    """Reads the child's lines into `lines` until one contains `needle`;
    False at its end or after `limit` seconds (a line still missing). The
    child's stdout must be unbuffered (bufsize=0), or select would not see
    lines already read into Python's buffer."""
    end = time.monotonic() + limit
    while True:
        if not select.select([child.stdout], [], [], max(0.0, end - time.monotonic()))[0]:
            print(f"testbed.py: no line with {needle!r} within {limit} s", file=sys.stderr)
            return False
        line = child.stdout.readline()
        if not line:
            return False
        lines.append(line)
        if needle in line:
            return True


@contextlib.contextmanager
def stock_bench(tb, radio_sim, telemetry_hz=0):
    """The stock adapters but the FT230X (added by the caller), a `sleep`
    holding the CH340, and a radio-sim (serial STOCK-1) ready to be put
    behind a port; yields radio-sim's pty. Everything is stopped after."""
    for name in ("cp2102", "ch340", "keyboard", "uarts"):
        load(tb, name)
    holder = subprocess.Popen(["sleep", "120"], stdin=open("/dev/ttyUSB2", "rb", buffering=0))
    workdir = tempfile.mkdtemp(prefix="radio-stock-")
    sim = None
    try:
        sim, sim_fd = start_radio_sim(radio_sim, workdir, "STOCK-1", telemetry_hz)
        yield sim_fd
    finally:
        holder.kill()
        if sim is not None:
            sim.terminate()
            sim.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def finish(child, lines):
    """Ends a --watch or monitor with SIGTERM; prints all it wrote; its status."""
    child.send_signal(signal.SIGTERM)
    rest, _ = child.communicate(timeout=10)
    sys.stdout.write("".join(line.decode() for line in lines) + rest.decode())
    return child.returncode


def stock_reconnect(tb, argv):
    """`radio-cli ARGS...` (a monitor of udev://?serial=STOCK-1) while the
    FT230X with the radio is pulled out and, 1.5 s later, plugged into
    another USB port (it comes back as ttyUSB3). Reports on stderr how many
    bytes reached the silent CP2102 at the first open, while the radio was
    away, and when it came back: probes are for opens and arrivals, not for
    the reconnect loop's polls."""
    cli, radio_sim, args = argv[1], argv[3], argv[4:]
    with stock_bench(tb, radio_sim, telemetry_hz=20) as sim_fd:
        load(tb, "ft230x")
        master = tb.get_dev_fd("/dev/ttyUSB0")
        stop = relay(master, sim_fd)
        silent = tb.get_dev_fd("/dev/ttyUSB1")
        child = subprocess.Popen([cli] + args, stdout=subprocess.PIPE, bufsize=0)
        lines = []
        report = {}
        if read_until(child, lines, b'"seq"'):
            report["at_open"] = len(drain(silent))
            # The port it will come back on, made now: a pty number freed by
            # closing ttyUSB0's master would be handed out again, and this
            # umockdev asserts on a pty it has mapped before. Nothing is
            # behind it yet, and the radio is still connected, so radio-cli
            # pays it no attention.
            moved = description("ft230x").replace("ttyUSB0", "ttyUSB3").replace("1-3", "1-7") \
                .replace("MINOR=0", "MINOR=3").replace("dev=188:0", "dev=188:3").replace("usb-0:3:", "usb-0:7:")
            load(tb, "ft230x-moved", moved)
            # Pulled out: the tty goes, and the line with it.
            tty_path = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0/ttyUSB0/tty/ttyUSB0"
            tb.uevent(tty_path, "remove")
            tb.remove_device(tty_path)
            stop.set()
            time.sleep(0.1)
            os.close(master)
            if read_until(child, lines, b'"disconnected"'):
                time.sleep(1.5)
                report["while_away"] = len(drain(silent))
                # Plugged into another port: the radio behind ttyUSB3, announced.
                relay(tb.get_dev_fd("/dev/ttyUSB3"), sim_fd)
                tb.uevent("/sys/devices/pci0000:00/0000:00:14.0/usb1/1-7/1-7:1.0/ttyUSB3/tty/ttyUSB3", "add")
                if read_until(child, lines, b'"seq"'):
                    report["at_arrival"] = len(drain(silent))
        status = finish(child, lines)
        print(json.dumps({"testbed": report}), file=sys.stderr)
        return status


def stock(tb, argv, hotplug):
    """The stock adapters, with what is behind each:
      - FT230X (/dev/ttyUSB0): a radio-sim with serial STOCK-1;
      - CP2102 (/dev/ttyUSB1): nothing (a silent line);
      - CH340 (/dev/ttyUSB2): held open by another process (`sleep`), as a
        terminal program would;
    and a USB keyboard (not serial), the mainboard's 16550A (ttyS0) and an
    8250 placeholder with no UART (ttyS1)."""
    cli, radio_sim, args = argv[1], argv[3], argv[4:]
    with stock_bench(tb, radio_sim) as sim_fd:
        if not hotplug:
            load(tb, "ft230x")
            relay(tb.get_dev_fd("/dev/ttyUSB0"), sim_fd)
            silent, busy = tb.get_dev_fd("/dev/ttyUSB1"), tb.get_dev_fd("/dev/ttyUSB2")
            # The silent line at 9600 baud, as another program left it: a
            # probe (at 115200) must put that back.
            before = termios.tcgetattr(silent)
            before[4] = before[5] = termios.B9600
            termios.tcsetattr(silent, termios.TCSANOW, before)
            before = termios.tcgetattr(silent)
            done = subprocess.run([cli] + args, stdout=subprocess.PIPE, timeout=60)
            sys.stdout.write(done.stdout.decode())
            # What reached each line, for the tests: the busy port must get
            # nothing; the silent one gets the Identify, and its settings back.
            print(json.dumps({"testbed": {"ttyUSB1_received": len(drain(silent)),
                                          "ttyUSB1_settings_kept": termios.tcgetattr(silent) == before,
                                          "ttyUSB2_received": len(drain(busy))}}), file=sys.stderr)
            return done.returncode
        child = subprocess.Popen([cli] + args, stdout=subprocess.PIPE, bufsize=0)
        # The ports present at start (the monitor runs before they print),
        # ttyUSB2 the last of them.
        lines = []
        if read_until(child, lines, b"/dev/ttyUSB2"):
            # The FT230X is plugged in with the radio on it: udev announces
            # the tty, radio-cli probes it.
            load(tb, "ft230x")
            relay(tb.get_dev_fd("/dev/ttyUSB0"), sim_fd)
            if read_until(child, lines, b'"add"'):
                tty_path = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3/1-3:1.0/ttyUSB0/tty/ttyUSB0"
                tb.uevent(tty_path, "remove")
                tb.remove_device(tty_path)
                read_until(child, lines, b'"remove"')
        return finish(child, lines)


def main(argv):
    if len(argv) >= 4 and argv[2] == "stock-reconnect":
        return stock_reconnect(UMockdev.Testbed.new(), argv)
    if len(argv) >= 4 and argv[2] in ("stock", "stock-hotplug"):
        return stock(UMockdev.Testbed.new(), argv, argv[2] == "stock-hotplug")
    if len(argv) < 3 or argv[2] not in ("list", "hotplug", "run", "udevadm"):
        print(__doc__, file=sys.stderr)
        return 64
    cli, mode = argv[1], argv[2]
    tb = UMockdev.Testbed.new()
    if mode in ("list", "run", "udevadm"):
        usb_serial(tb, "1-1", "0403", "6001", "A1B2C3", "FTDI", "HIL Radio 2", "ftdi_sio", "ttyUSB0", latency=16)
        usb_serial(tb, "1-2", "10c4", "ea60", "CP0042", "Silicon Labs", "HIL Radio CP", "cp210x", "ttyUSB1",
                   tagged=True)
        usb_serial(tb, "1-3", "0403", "6001", "FT9XYZ", "FTDI", "FT232R USB UART", "ftdi_sio", "ttyUSB2", latency=16)
        usb_serial(tb, "1-4", "2341", "0043", "ARD123", "Arduino (www.arduino.cc)", "Arduino Uno", "cdc_acm",
                   "ttyACM0", via_usb_serial=False)
        tb.add_device("tty", "console", None, [], ["DEVNAME", "/dev/console"])
        if mode == "udevadm":
            # A radio whose EEPROM serial has a space and a path in it.
            usb_serial(tb, "1-6", "0403", "6001", "EV IL/../x", "FTDI", "HIL Radio 2", "ftdi_sio", "ttyUSB6", latency=16)
            return udevadm_test(tb, cli)
        args = argv[3:] if mode == "run" else ["list", "--json"]
        done = subprocess.run([cli] + args, stdout=subprocess.PIPE, timeout=30)
        sys.stdout.write(done.stdout.decode())
        return done.returncode

    usb_serial(tb, "1-1", "0403", "6001", "A1B2C3", "FTDI", "HIL Radio 2", "ftdi_sio", "ttyUSB0", latency=1)
    child = subprocess.Popen([cli, "list", "--watch", "--json"], stdout=subprocess.PIPE)
    lines = [child.stdout.readline().decode()]  # the radio present at start: the monitor is running
    added = usb_serial(tb, "1-5", "0403", "6015", "Z9Y8X7", "FTDI", "HIL Radio X", "ftdi_sio", "ttyUSB5", latency=1)
    # add_device sends the "add" uevent itself.
    lines.append(child.stdout.readline().decode())
    tb.uevent(added, "remove")
    tb.remove_device(added)
    lines.append(child.stdout.readline().decode())
    child.send_signal(signal.SIGTERM)
    rest, _ = child.communicate(timeout=10)
    sys.stdout.write("".join(lines) + rest.decode())
    return child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
