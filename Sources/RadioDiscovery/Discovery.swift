internal import CUdev
import Foundation
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

/// A radio's tty as udev describes it.
public struct AttachedRadio: Hashable, Sendable, Codable {
    /// The kernel's name for it, such as /dev/ttyUSB0: changes with every replug.
    public var devnode: String
    /// /dev/radio/<serial> when the udev rules are installed.
    public var stableLink: String?
    public var syspath: String
    /// USB vendor and product IDs, 4 hex digits.
    public var vendorID: String
    public var productID: String
    public var serialNumber: String?
    public var manufacturer: String?
    public var product: String?
    /// The kernel driver of the serial port (ftdi_sio, cp210x, cdc_acm, ...).
    public var driver: String?
    /// The FTDI latency timer in milliseconds, where the driver has one.
    public var latencyTimerMillis: Int?
    /// True when the udev rules tagged it (ID_RADIO=1).
    public var tagged: Bool

    /// What to open: the stable name when there is one.
    public var path: String { stableLink ?? devnode }

    enum CodingKeys: String, CodingKey {
        case devnode, stableLink = "stable_link", syspath, vendorID = "vendor_id", productID = "product_id"
        case serialNumber = "serial", manufacturer, product, driver
        case latencyTimerMillis = "latency_timer_ms", tagged
    }

    /// Every key, null where unknown: a stable shape for jq and scripts.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(devnode, forKey: .devnode)
        try c.encode(stableLink, forKey: .stableLink)
        try c.encode(syspath, forKey: .syspath)
        try c.encode(vendorID, forKey: .vendorID)
        try c.encode(productID, forKey: .productID)
        try c.encode(serialNumber, forKey: .serialNumber)
        try c.encode(manufacturer, forKey: .manufacturer)
        try c.encode(product, forKey: .product)
        try c.encode(driver, forKey: .driver)
        try c.encode(latencyTimerMillis, forKey: .latencyTimerMillis)
        try c.encode(tagged, forKey: .tagged)
    }
}

/// A change in what is attached.
public enum HotplugEvent: Hashable, Sendable {
    /// A radio appeared (or was re-tagged by udev).
    case added(AttachedRadio)
    /// A tty went away. Its USB parents are gone by then, so only what udev
    /// remembered of it is known: its devnode, and its serial number when
    /// the rules had tagged it.
    case removed(devnode: String, serialNumber: String?)
}

public struct DiscoveryError: Error, CustomStringConvertible, Sendable {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Radios attached by USB, found and watched through libudev.
public enum RadioDiscovery {
    /// The attached radios: tty devices whose USB device matches `table`, or
    /// that the udev rules tagged ID_RADIO=1. Sorted by devnode.
    public static func attachedRadios(table: [AdapterID] = AdapterID.known) throws(DiscoveryError) -> [AttachedRadio] {
        let udev = try Udev()
        guard let enumerate = udev_enumerate_new(udev.handle) else { throw DiscoveryError("udev_enumerate_new failed") }
        defer { udev_enumerate_unref(enumerate) }
        udev_enumerate_add_match_subsystem(enumerate, "tty")
        guard udev_enumerate_scan_devices(enumerate) >= 0 else {
            throw DiscoveryError("cannot scan udev's tty devices (is /sys mounted?)")
        }
        var radios: [AttachedRadio] = []
        var entry = udev_enumerate_get_list_entry(enumerate)
        while let e = entry {
            defer { entry = udev_list_entry_get_next(e) }
            guard let syspath = udev_list_entry_get_name(e),
                  let device = udev_device_new_from_syspath(udev.handle, syspath) else { continue }
            defer { udev_device_unref(device) }
            if let radio = radio(from: device, table: table) { radios.append(radio) }
        }
        return radios.sorted { $0.devnode < $1.devnode }
    }

    /// The radio with this USB serial number, if one is attached.
    public static func radio(serialNumber: String, table: [AdapterID] = AdapterID.known) throws(DiscoveryError) -> AttachedRadio? {
        try attachedRadios(table: table).first { $0.serialNumber == serialNumber }
    }

    /// Radios arriving and leaving, from a udev monitor (netlink). The
    /// stream ends when the consuming task is cancelled or the stream dropped.
    public static func hotplugEvents(table: [AdapterID] = AdapterID.known) throws(DiscoveryError) -> AsyncStream<HotplugEvent> {
        let monitor = try HotplugMonitor(table: table)
        return AsyncStream { continuation in
            continuation.onTermination = { _ in monitor.stop() }
            monitor.start { continuation.yield($0) } finished: { continuation.finish() }
        }
    }

    static func radio(from device: OpaquePointer, table: [AdapterID]) -> AttachedRadio? {
        guard let devnode = string(udev_device_get_devnode(device)),
              let syspath = string(udev_device_get_syspath(device)) else { return nil }
        let tagged = property(device, "ID_RADIO") == "1"
        guard let usb = udev_device_get_parent_with_subsystem_devtype(device, "usb", "usb_device"),
              let vendorText = attribute(usb, "idVendor"), let productText = attribute(usb, "idProduct"),
              let vendor = UInt16(vendorText, radix: 16), let product = UInt16(productText, radix: 16)
        else { return nil }
        let productString = attribute(usb, "product")
        guard tagged || table.contains(where: { $0.matches(vendor: vendor, product: product, productString: productString) })
        else { return nil }

        // The port device between the tty and the USB interface carries the
        // driver and, for FTDI, the latency timer.
        let port = udev_device_get_parent_with_subsystem_devtype(device, "usb-serial", nil)
        let interface = udev_device_get_parent_with_subsystem_devtype(device, "usb", "usb_interface")
        let driver = port.flatMap { string(udev_device_get_driver($0)) ?? property($0, "DRIVER") }
            ?? interface.flatMap { string(udev_device_get_driver($0)) ?? property($0, "DRIVER") }
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
        return AttachedRadio(
            devnode: devnode, stableLink: links.sorted().first { $0.hasPrefix("/dev/radio/") }, syspath: syspath,
            vendorID: vendorText, productID: productText,
            serialNumber: attribute(usb, "serial") ?? property(device, "ID_RADIO_SERIAL"),
            manufacturer: attribute(usb, "manufacturer"), product: productString,
            driver: driver, latencyTimerMillis: latency, tagged: tagged)
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
    private let wake: WakeEvent
    private let stopped = Atomic<Bool>(false)
    /// Radios seen (devnode → serial number), so that a removal, whose USB
    /// parents are gone, can still be recognised and named.
    private var known: [String: String?] = [:]

    init(table: [AdapterID]) throws(DiscoveryError) {
        udev = try Udev()
        guard let m = udev_monitor_new_from_netlink(udev.handle, "udev") else {
            throw DiscoveryError("cannot open a udev monitor (netlink)")
        }
        monitor = m
        self.table = table
        guard udev_monitor_filter_add_match_subsystem_devtype(m, "tty", nil) >= 0,
              udev_monitor_enable_receiving(m) >= 0,
              let wake = try? WakeEvent() else {
            udev_monitor_unref(m)
            throw DiscoveryError("cannot start the udev monitor: \(String(cString: strerror(errno)))")
        }
        self.wake = wake
        // Radios already attached, so that their removal is recognised.
        for radio in (try? RadioDiscovery.attachedRadios(table: table)) ?? [] { known[radio.devnode] = radio.serialNumber }
    }

    deinit {
        udev_monitor_unref(monitor)
        wake.close()
    }

    func start(_ yield: @escaping @Sendable (HotplugEvent) -> Void, finished: @escaping @Sendable () -> Void) {
        let thread = Thread {
            self.run(yield)
            finished()
        }
        thread.name = "radio-hotplug"
        thread.start()
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
                if let radio = RadioDiscovery.radio(from: device, table: table) {
                    known[radio.devnode] = radio.serialNumber
                    yield(.added(radio))
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
        var target = path
        if let resolved = realpath(path, nil) {
            target = String(cString: resolved)
            free(resolved)
        }
        return target.split(separator: "/").last.map(String.init) ?? target
    }

    /// A one-line warning when a latency timer above 1 ms slows every round
    /// trip, with the fix; nil when there is nothing to say.
    public static func latencyWarning(forTTY path: String) -> String? {
        guard let ms = latencyTimer(forTTY: path), ms > 1 else { return nil }
        let sysname = ttyName(path)
        return "\(path) has a \(ms) ms latency timer, so every round trip takes at least \(ms) ms; "
            + "fix: make install-udev (sets 1 ms), or now: echo 1 | sudo tee /sys/bus/usb-serial/devices/\(sysname)/latency_timer"
    }
}
