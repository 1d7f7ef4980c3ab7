public import RadioDriver

/// `udev://?serial=A1B2C3`: the attached radio with that USB serial number,
/// wherever it is plugged in. Reopened by serial number after an unplug; a
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
            throw .invalidPort("udev:// needs a serial number, as in udev://?serial=A1B2C3 (radio-cli list shows them)")
        }
        self.serial = serial
        self.settings = try query.lineSettings(settings)
        reconnect = try query.flag("reconnect") ?? true
    }

    public func open(timeout: Duration) throws(RadioError) -> any RadioTransport {
        let serial = serial, settings = settings
        let open = { @Sendable (_: ContinuousClock.Instant) throws(RadioError) -> any RadioTransport in
            try SerialTransport(path: try UdevScheme.resolve(serial: serial), settings: settings)
        }
        if !reconnect { return try open(.now + timeout) }
        return try ReconnectingTransport(name: "udev://?serial=\(serial)", timeout: timeout, arrivals: {
            guard let events = try? RadioDiscovery.hotplugEvents() else { return nil }
            return AsyncStream { continuation in
                let task = Task {
                    for await event in events { if case .added = event { continuation.yield(()) } }
                    continuation.finish()
                }
                continuation.onTermination = { _ in task.cancel() }
            }
        }, open: open)
    }

    /// The tty of the attached radio with this USB serial number.
    static func resolve(serial: String) throws(RadioError) -> String {
        let radio: AttachedRadio?
        do {
            radio = try RadioDiscovery.radio(serialNumber: serial)
        } catch {
            throw .notFound("udev://?serial=\(serial) (\(error.description))")
        }
        guard let radio else {
            throw .notFound("udev://?serial=\(serial): no attached radio has that serial number (radio-cli list shows what is attached)")
        }
        return radio.path
    }

    public var baud: Int? { settings.baud }
    public func devicePath() -> String? { (try? RadioDiscovery.radio(serialNumber: serial))?.map(\.devnode) }
}
