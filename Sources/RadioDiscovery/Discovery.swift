internal import CUdev
import Dispatch
import RadioDriver
import RadioIO
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// One kind of USB-serial adapter a radio is attached by (see
/// udev-rules/adapters.tsv, which `AdapterID.known` is generated from).
public struct AdapterID: Hashable, Sendable {
    public let vendor: UInt16
    public let product: UInt16
    /// The USB product string as an fnmatch pattern; `*` for any.
    public let productPattern: String
    public let driver: String
    public let name: String

    public init(vendor: UInt16, product: UInt16, productPattern: String, driver: String, name: String) {
        self.vendor = vendor
        self.product = product
        self.productPattern = productPattern
        self.driver = driver
        self.name = name
    }

    public func matches(vendor: UInt16, product: UInt16, productString: String?) -> Bool {
        guard vendor == self.vendor, product == self.product else { return false }
        if productPattern == "*" { return true }
        guard let productString else { return false }
        return fnmatch(productPattern, productString, 0) == 0
    }
}

/// A serial port as udev describes it: a tty with a device behind it (a
/// USB-serial adapter, a CDC-ACM board, a UART on the mainboard or SoC).
/// Ptys, virtual consoles and the unused placeholders the 8250 driver makes
/// (ttyS0..31 with no UART) are not ports and never listed.
public struct AttachedPort: Hashable, Sendable, Codable {
    /// The kernel's name for it, such as /dev/ttyUSB0: changes with every replug.
    public var devnode: String
    /// Every symlink udev made for it (/dev/serial/by-id/..., /dev/radio/...), sorted.
    public var links: [String]
    /// /dev/radio/<serial> when the udev rules are installed.
    public var stableLink: String?
    /// The sysfs path; nil for a tty udev does not know (a pty named on the command line).
    public var syspath: String?
    /// The bus of the device behind the tty: usb, platform, pnp, pci, amba, ...
    public var bus: String?
    /// USB vendor and product IDs, 4 hex digits; nil when not on USB.
    public var vendorID: String?
    public var productID: String?
    public var serialNumber: String?
    public var manufacturer: String?
    public var product: String?
    /// The kernel driver of the serial port (ftdi_sio, cp210x, ch341, cdc_acm, serial8250, ...).
    public var driver: String?
    /// The FTDI latency timer in milliseconds, where the driver has one.
    public var latencyTimerMillis: Int?
    /// True when the udev rules tagged it (ID_RADIO=1).
    public var tagged: Bool
    /// True when it is a radio by the adapter table or the udev rules.
    public var knownRadio: Bool

    /// A tty udev does not describe (a pty): its path, nothing else known.
    public init(unknownTTY path: String) {
        self.init(devnode: path, links: [], stableLink: nil, syspath: nil, bus: nil, vendorID: nil, productID: nil,
                  serialNumber: nil, manufacturer: nil, product: nil, driver: nil, latencyTimerMillis: nil,
                  tagged: false, knownRadio: false)
    }

    init(devnode: String, links: [String], stableLink: String?, syspath: String?, bus: String?, vendorID: String?,
         productID: String?, serialNumber: String?, manufacturer: String?, product: String?, driver: String?,
         latencyTimerMillis: Int?, tagged: Bool, knownRadio: Bool) {
        self.devnode = devnode
        self.links = links
        self.stableLink = stableLink
        self.syspath = syspath
        self.bus = bus
        self.vendorID = vendorID
        self.productID = productID
        self.serialNumber = serialNumber
        self.manufacturer = manufacturer
        self.product = product
        self.driver = driver
        self.latencyTimerMillis = latencyTimerMillis
        self.tagged = tagged
        self.knownRadio = knownRadio
    }

    /// What to open: the stable name when there is one.
    public var path: String { stableLink ?? devnode }

    /// The latency timer slows every round trip to at least its value.
    public var latencyTimerIsSlow: Bool { (latencyTimerMillis ?? 0) > 1 }

    enum CodingKeys: String, CodingKey {
        case devnode, links, stableLink = "stable_link", syspath, bus, vendorID = "vendor_id", productID = "product_id"
        case serialNumber = "usb_serial", manufacturer, product, driver
        case latencyTimerMillis = "latency_timer_ms", tagged, knownRadio = "known_radio"
    }

    /// Every key, null where unknown: a stable shape for jq and scripts.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(devnode, forKey: .devnode)
        try c.encode(links, forKey: .links)
        try c.encode(stableLink, forKey: .stableLink)
        try c.encode(syspath, forKey: .syspath)
        try c.encode(bus, forKey: .bus)
        try c.encode(vendorID, forKey: .vendorID)
        try c.encode(productID, forKey: .productID)
        try c.encode(serialNumber, forKey: .serialNumber)
        try c.encode(manufacturer, forKey: .manufacturer)
        try c.encode(product, forKey: .product)
        try c.encode(driver, forKey: .driver)
        try c.encode(latencyTimerMillis, forKey: .latencyTimerMillis)
        try c.encode(tagged, forKey: .tagged)
        try c.encode(knownRadio, forKey: .knownRadio)
    }
}

/// A change in what is attached.
public enum HotplugEvent: Hashable, Sendable {
    /// A port appeared (or was re-tagged by udev).
    case added(AttachedPort)
    /// A tty went away. Its USB parents are gone by then, so only what udev
    /// remembered of it is known: its devnode, and its serial number when
    /// the rules had tagged it.
    case removed(devnode: String, serialNumber: String?)
}

public struct DiscoveryError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Serial ports and the radios among them, found and watched through libudev.
public enum RadioDiscovery {
    /// Which ports a listing or a watch reports.
    public enum Scope: Sendable {
        /// Radios only: the adapter table or the udev rules say so.
        case radios
        /// Every serial port with a device behind it.
        case all
    }

    /// The serial ports in `scope`, sorted by devnode.
    public static func ports(_ scope: Scope, table: [AdapterID] = AdapterID.known) throws(DiscoveryError) -> [AttachedPort] {
        let udev = try Udev()
        // /sys/class/tty read directly rather than through udev_enumerate,
        // which makes a device of each of the 60-odd virtual ttys (consoles,
        // ptmx) at some 40 syscalls apiece; their links say they are
        // virtual, with no device behind them, and are skipped by name.
        var ports: [AttachedPort] = []
        let readable = Paths.forEachEntry(in: "/sys/class/tty") { name in
            if Paths.readLink("/sys/class/tty/\(name)")?.contains("/devices/virtual/") == true { return }
            guard let device = udev_device_new_from_subsystem_sysname(udev.handle, "tty", name) else { return }
            defer { udev_device_unref(device) }
            if let port = port(from: device, table: table), scope == .all || port.knownRadio { ports.append(port) }
        }
        guard readable else { throw DiscoveryError("cannot read /sys/class/tty (is /sys mounted?)") }
        return ports.sorted { $0.devnode < $1.devnode }
    }

    /// The attached radios: tty devices whose USB device matches `table`, or
    /// that the udev rules tagged ID_RADIO=1. Sorted by devnode.
    public static func attachedRadios(table: [AdapterID] = AdapterID.known) throws(DiscoveryError) -> [AttachedPort] {
        try ports(.radios, table: table)
    }

    /// The radio with this USB serial number, if one is attached.
    public static func radio(serialNumber: String, table: [AdapterID] = AdapterID.known) throws(DiscoveryError) -> AttachedPort? {
        try attachedRadios(table: table).first { $0.serialNumber == serialNumber }
    }

    /// Ports in `scope` arriving and leaving, from a udev monitor (netlink).
    /// The stream ends when the consuming task is cancelled or the stream dropped.
    public static func hotplugEvents(_ scope: Scope = .radios,
                                     table: [AdapterID] = AdapterID.known) throws(DiscoveryError) -> AsyncStream<HotplugEvent> {
        let monitor = try HotplugMonitor(scope: scope, table: table)
        return AsyncStream { continuation in
            continuation.onTermination = { _ in monitor.stop() }
            monitor.start { continuation.yield($0) } finished: { continuation.finish() }
        }
    }

    /// The port behind a udev tty device; nil for a tty with no device
    /// behind it (pty, virtual console) or an 8250 placeholder with no UART.
    static func port(from device: OpaquePointer, table: [AdapterID]) -> AttachedPort? {
        guard let devnode = string(udev_device_get_devnode(device)),
              let syspath = string(udev_device_get_syspath(device)),
              var parent = udev_device_get_parent(device) else { return nil }
        // Kernels since 6.5 put serial-base devices (ctrl, port) between a
        // UART's tty and the device the UART is on: look past them.
        while string(udev_device_get_subsystem(parent)) == "serial-base", let up = udev_device_get_parent(parent) {
            parent = up
        }
        // The 8250 driver registers ttyS0..31 whether or not a UART is there;
        // `type` 0 (PORT_UNKNOWN) is one that is not.
        if attribute(device, "type") == "0" { return nil }
        let tagged = property(device, "ID_RADIO") == "1"

        let usb = udev_device_get_parent_with_subsystem_devtype(device, "usb", "usb_device")
        let vendorText = usb.flatMap { attribute($0, "idVendor") }
        let productText = usb.flatMap { attribute($0, "idProduct") }
        let productString = usb.flatMap { attribute($0, "product") }
        var known = tagged
        if !known, let vendorText, let productText,
           let vendor = UInt16(vendorText, radix: 16), let product = UInt16(productText, radix: 16) {
            known = table.contains { $0.matches(vendor: vendor, product: product, productString: productString) }
        }

        // The driver is the USB interface's (the module: ch341, not the port
        // driver's ch341-uart); the port device between the tty and the
        // interface carries the latency timer (FTDI).
        let port = udev_device_get_parent_with_subsystem_devtype(device, "usb-serial", nil)
        let interface = udev_device_get_parent_with_subsystem_devtype(device, "usb", "usb_interface")
        let driver = [interface, port, parent].lazy.compactMap { $0 }
            .compactMap { string(udev_device_get_driver($0)) ?? property($0, "DRIVER") }.first
        let latency = port.flatMap { attribute($0, "latency_timer") }.flatMap { Int($0) }

        var links: [String] = []
        var entry = udev_device_get_devlinks_list_entry(device)
        while let e = entry {
            if let name = string(udev_list_entry_get_name(e)) { links.append(name) }
            entry = udev_list_entry_get_next(e)
        }
        if links.isEmpty, let devlinks = property(device, "DEVLINKS") {
            links = devlinks.split(separator: " ").map(String.init)
        }
        links.sort()
        return AttachedPort(
            devnode: devnode, links: links, stableLink: links.first { $0.hasPrefix("/dev/radio/") }, syspath: syspath,
            bus: usb != nil ? "usb" : string(udev_device_get_subsystem(parent)),
            vendorID: vendorText, productID: productText,
            serialNumber: usb.flatMap { attribute($0, "serial") } ?? property(device, "ID_RADIO_SERIAL"),
            manufacturer: usb.flatMap { attribute($0, "manufacturer") }, product: productString,
            driver: driver, latencyTimerMillis: latency, tagged: tagged, knownRadio: known)
    }

    static func string(_ p: UnsafePointer<CChar>?) -> String? { p.map { String(cString: $0) } }
    static func property(_ device: OpaquePointer, _ name: String) -> String? {
        string(udev_device_get_property_value(device, name))
    }
    static func attribute(_ device: OpaquePointer, _ name: String) -> String? {
        string(udev_device_get_sysattr_value(device, name))?.trimmingTrailingWhitespace
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }
}

/// A libudev context.
final class Udev {
    let handle: OpaquePointer
    init() throws(DiscoveryError) {
        guard let h = udev_new() else { throw DiscoveryError("udev_new failed") }
        handle = h
    }
    deinit { udev_unref(handle) }
}

/// A udev monitor (netlink, tty subsystem) and the thread that reads it.
///
/// `@unchecked Sendable`: the udev handles are made in `init` and, from
/// `start` on, used only by the monitor thread, which holds the object until
/// it ends; `stop` only signals the wake event, which is safe from any
/// thread. The handles are freed in `deinit`, after the thread is done.
final class HotplugMonitor: @unchecked Sendable {
    private let udev: Udev
    private let monitor: OpaquePointer
    private let table: [AdapterID]
    private let scope: RadioDiscovery.Scope
    private let wake: WakeEvent
    private let stopped = Atomic<Bool>(false)
    /// Ports seen (devnode → serial number), so that a removal, whose USB
    /// parents are gone, can still be recognised and named.
    private var known: [String: String?] = [:]

    init(scope: RadioDiscovery.Scope, table: [AdapterID]) throws(DiscoveryError) {
        udev = try Udev()
        guard let m = udev_monitor_new_from_netlink(udev.handle, "udev") else {
            throw DiscoveryError("cannot open a udev monitor (netlink)")
        }
        monitor = m
        self.table = table
        self.scope = scope
        guard udev_monitor_filter_add_match_subsystem_devtype(m, "tty", nil) >= 0,
              udev_monitor_enable_receiving(m) >= 0,
              let wake = try? WakeEvent() else {
            udev_monitor_unref(m)
            throw DiscoveryError("cannot start the udev monitor: \(String(cString: strerror(errno)))")
        }
        self.wake = wake
        // Ports already attached, so that their removal is recognised.
        for port in (try? RadioDiscovery.ports(scope, table: table)) ?? [] { known[port.devnode] = port.serialNumber }
    }

    deinit {
        udev_monitor_unref(monitor)
        wake.close()
    }

    func start(_ yield: @escaping @Sendable (HotplugEvent) -> Void, finished: @escaping @Sendable () -> Void) {
        startThread(name: "radio-hotplug") {
            self.run(yield)
            finished()
        }
    }

    func stop() {
        stopped.store(true, ordering: .releasing)
        wake.signal()
    }

    private func stopping() -> Bool { stopped.load(ordering: .acquiring) }

    private func run(_ yield: (HotplugEvent) -> Void) {
        let fd = FileDescriptor(rawValue: udev_monitor_get_fd(monitor))
        while true {
            let seen: PollEvents
            do { seen = try fd.wait(for: .input, wake: wake, timeout: nil) } catch { return }
            // Empty: the wake event fired (stop), or a signal interrupted the wait.
            if seen.isEmpty {
                if stopping() { return }
                continue
            }
            guard seen.contains(.input), let device = udev_monitor_receive_device(monitor) else { continue }
            defer { udev_device_unref(device) }
            switch RadioDiscovery.string(udev_device_get_action(device)) {
            case "add", "change", "bind":
                if let port = RadioDiscovery.port(from: device, table: table), scope == .all || port.knownRadio {
                    known[port.devnode] = port.serialNumber
                    yield(.added(port))
                }
            case "remove":
                guard let devnode = RadioDiscovery.string(udev_device_get_devnode(device)) else { continue }
                let tagged = RadioDiscovery.property(device, "ID_RADIO") == "1"
                let seen = known.removeValue(forKey: devnode)
                if seen != nil || tagged {
                    yield(.removed(devnode: devnode,
                                   serialNumber: RadioDiscovery.property(device, "ID_RADIO_SERIAL") ?? seen ?? nil))
                }
            default:
                continue
            }
        }
    }
}

extension RadioDiscovery {
    /// The latency timer of the USB-serial adapter behind a tty path (a
    /// symlink such as /dev/radio/X is followed), in milliseconds; nil when
    /// the tty has none (not FTDI, a pty, not a tty at all).
    public static func latencyTimer(forTTY path: String) -> Int? {
        let name = ttyName(path)
        guard !name.isEmpty, let udev = try? Udev(),
              let device = udev_device_new_from_subsystem_sysname(udev.handle, "tty", name) else { return nil }
        defer { udev_device_unref(device) }
        guard let port = udev_device_get_parent_with_subsystem_devtype(device, "usb-serial", nil) else { return nil }
        return attribute(port, "latency_timer").flatMap { Int($0) }
    }

    /// The kernel's name for the tty at `path`, a symlink followed.
    static func ttyName(_ path: String) -> String {
        let target = PortUsers.resolved(path)
        return target.split(separator: "/").last.map(String.init) ?? target
    }

    /// A one-line warning when a latency timer above 1 ms slows every round
    /// trip, with the fix; nil when there is nothing to say.
    public static func latencyWarning(forTTY path: String) -> String? {
        guard let ms = latencyTimer(forTTY: path) else { return nil }
        return latencyWarning(path: path, sysname: ttyName(path), milliseconds: ms)
    }

    /// The same for a listed port, from what the listing read.
    public static func latencyWarning(for port: AttachedPort) -> String? {
        guard let ms = port.latencyTimerMillis, let syspath = port.syspath,
              let sysname = syspath.split(separator: "/").last else { return nil }
        return latencyWarning(path: port.devnode, sysname: String(sysname), milliseconds: ms)
    }

    static func latencyWarning(path: String, sysname: String, milliseconds ms: Int) -> String? {
        guard ms > 1 else { return nil }
        return "\(path) has a \(ms) ms latency timer, so every round trip takes at least \(ms) ms; "
            + "fix: make install-udev (sets 1 ms), or now: echo 1 | sudo tee /sys/bus/usb-serial/devices/\(sysname)/latency_timer"
    }
}
