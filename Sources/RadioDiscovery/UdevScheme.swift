import Locking
public import RadioDriver

/// `udev://?serial=A1B2C3`: the attached radio with that serial number (its
/// USB adapter's, or the one it answers Identify with), wherever it is
/// plugged in. Reopened by serial number after an unplug; a
/// udev hotplug monitor wakes the wait the moment a radio arrives.
public struct UdevScheme: PortScheme {
    public static let name = "udev"
    public static let options = ["serial", "baud", "rtscts", "reconnect"]
    public static let usage = "udev://?serial=SERIAL"
    public let serial: String
    public let settings: SerialSettings
    public let reconnect: Bool

    public init(body: String, query: inout PortQuery, settings: SerialSettings) throws(RadioError) {
        try PortQuery.expectEmpty(body, scheme: UdevScheme.name, text: query.text)
        guard let serial = query.take("serial") else {
            throw .invalidPort("udev:// needs a serial number, as in udev://?serial=A1B2C3 (radio-cli list --all --probe shows them)")
        }
        self.serial = serial
        self.settings = try query.lineSettings(settings)
        reconnect = try query.flag("reconnect") ?? true
    }

    public func open(timeout: Duration) throws(RadioError) -> any RadioTransport {
        let serial = serial, settings = settings
        // Probing (writing Identify to every free port) happens on the first
        // open and after each arrival, never on the reconnect loop's
        // 250 ms polls: a port nobody holds is not written to 4 times a
        // second while the radio is away.
        let gate = Locked<(arrivals: Int, probed: Int)>((arrivals: 0, probed: -1))
        let open = { @Sendable (_: ContinuousClock.Instant) throws(RadioError) -> any RadioTransport in
            let probing = gate.withLock { g -> Bool in
                defer { g.probed = g.arrivals }
                return g.probed != g.arrivals
            }
            return try SerialTransport(path: try UdevScheme.resolve(serial: serial, settings: settings, probing: probing),
                                       settings: settings)
        }
        if !reconnect { return try open(.now + timeout) }
        return try ReconnectingTransport(name: "udev://?serial=\(serial)", timeout: timeout, arrivals: {
            guard let events = try? RadioDiscovery.hotplugEvents(.all) else { return nil }
            return AsyncStream { continuation in
                let task = Task {
                    for await event in events {
                        if case .added(let port) = event {
                            // Its node first (udev may announce it before a
                            // rule's link exists), so the arrival's one probe
                            // can open it.
                            await PortProbe.nodeAppears(port.path)
                            gate.withLock { $0.arrivals += 1 }
                            continuation.yield(())
                        }
                    }
                    continuation.finish()
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }, open: open)
    }

    /// The tty of the radio with this serial number: first a port whose USB
    /// serial number it is (a known radio before any other port), then,
    /// when none is, the free port whose radio answers Identify with it.
    /// The second step writes one Identify to every serial port that no
    /// other process holds (`PortProbe`), as `radio-cli list --all --probe` does.
    static func resolve(serial: String, settings: SerialSettings = SerialSettings(),
                        probing: Bool = true) throws(RadioError) -> String {
        let ports: [AttachedPort]
        do {
            ports = try RadioDiscovery.ports(.all)
        } catch {
            throw .notFound("udev://?serial=\(serial) (\(error.description))")
        }
        if let port = byUSBSerial(serial, in: ports) { return port.path }
        guard probing else {
            throw .notFound("udev://?serial=\(serial): not attached; waiting for a port to arrive")
        }
        let results = PortProbe.probe(paths: ports.map(\.path), settings: settings)
        if let port = ports.first(where: { results[$0.path]?.identity?.serialNumber == serial }) { return port.path }
        throw .notFound("udev://?serial=\(serial): no attached port has that USB serial number, and no free port's radio "
                        + "answered Identify with it (radio-cli list --all --probe shows what is attached)")
    }

    static func byUSBSerial(_ serial: String, in ports: [AttachedPort]) -> AttachedPort? {
        ports.first { $0.knownRadio && $0.serialNumber == serial } ?? ports.first { $0.serialNumber == serial }
    }

    public var baud: Int? { settings.baud }
    /// The tty by USB serial number only: this is asked for warnings, and
    /// must not write to ports.
    public func devicePath() -> String? {
        (try? RadioDiscovery.ports(.all)).flatMap { UdevScheme.byUSBSerial(serial, in: $0) }?.devnode
    }
}
