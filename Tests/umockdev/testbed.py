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
import os
import signal
import subprocess
import sys
import time

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
                    "/sys/devices/usb1/1-3/1-3:1.0/ttyUSB2/ttyUSB2"):
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


def main(argv):
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
