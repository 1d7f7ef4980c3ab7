import ArgumentParser
import FoundationEssentials
import Glibc
import RadioIO
import RadioDiscovery
import RadioDriver

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List radios (or, with --all, every serial port), ask them who they are, watch them come and go.",
        discussion: """
            A known radio is a tty whose USB adapter is in udev-rules/adapters.tsv, or that the \
            udev rules tagged ID_RADIO=1. --all lists every serial port with a device behind \
            it (USB adapters, CDC-ACM boards, UARTs): a stock FTDI, CP210x or CH340 cable \
            shows up there. Each port says which process holds it, if any.

            --probe asks each listed port that no other process holds who it is: it opens \
            the port exclusively, sends one Identify, and waits --timeout (default 0.1 s). \
            It never writes to a port another process holds, and puts the line settings \
            back when it closes. Each port gets a probe line: the radio's model, serial and \
            firmware, or why it was skipped or gave no answer. Naming ports (PORT...) \
            probes just those, ptys included, and exits 69 unless every one is a radio.

            Open a radio by its serial number, wherever it is attached, with \
            --port udev://?serial=SERIAL: its USB serial number or, failing that, the \
            serial number it answers Identify with. --watch prints each arrival and \
            departure as it happens (probing arrivals with --probe), until SIGINT or SIGTERM.

            Examples:
              radio-cli list --all                 every serial port, radio or not
              radio-cli list --all --probe         ...and which of them answer as radios
              radio-cli list --probe /dev/pts/4    is there a radio on this pty?
              radio-cli list --watch --probe --json
            """ + examples(
            ["radio-cli list", "radio-cli list --all --probe", "radio-cli list --probe /dev/ttyUSB0", "radio-cli list --watch --json"]))

    @Argument(help: ArgumentHelp("Ports (tty paths) to probe instead of the ports udev lists.", valueName: "port"))
    var ports: [String] = []

    @Flag(name: .long, help: "List every serial port, not only known radios.")
    var all = false

    @Flag(name: .long, help: "Send Identify to each port that no other process holds, and report who answered.")
    var probe = false

    @Option(name: .long, help: ArgumentHelp("How long a probe waits for the Identify reply (default 0.1).", valueName: "seconds"))
    var timeout: Double?

    @Option(name: .long, help: "Baud rate to probe at (default 115200).")
    var baud: Int?

    @Flag(name: .long, help: "Print a JSON array (with --watch, one JSON object per event).")
    var json = false

    @Flag(name: .long, help: "After the list, print ports as they are plugged in and out.")
    var watch = false

    @Option(name: .long, help: .hidden)
    var port: String?

    func validate() throws {
        if port != nil {
            throw ValidationError("list takes no --port; name the ports to probe as arguments: radio-cli list --probe PORT...")
        }
        if let timeout {
            guard timeout.isFinite, timeout > 0, timeout <= 10 else {
                throw ValidationError("--timeout must be a number of seconds in (0, 10], got \(timeout)")
            }
        }
        if let baud, baud <= 0 { throw ValidationError("--baud must be a positive integer, got \(baud)") }
        if !ports.isEmpty && (all || watch) {
            throw ValidationError("named ports are probed as they are; --all and --watch apply to the ports udev lists")
        }
        if !probe && ports.isEmpty {
            if timeout != nil { throw ValidationError("--timeout applies to probes: add --probe") }
            if baud != nil { throw ValidationError("--baud applies to probes: add --probe") }
        }
    }

    var scope: RadioDiscovery.Scope { all ? .all : .radios }
    var probeTimeout: Duration {
        timeout.map { .milliseconds(Int64(($0 * 1000).rounded())) } ?? PortProbe.defaultTimeout
    }
    var settings: SerialSettings { SerialSettings(baud: baud ?? 115_200) }

    func run() async throws {
        if !ports.isEmpty { return try probeNamed() }
        // Before anything is printed: a script may send SIGTERM as soon as
        // it has read the first line.
        let stopSignal = watch ? SignalCatcher() : nil
        let found: [AttachedPort]
        do {
            found = try RadioDiscovery.ports(scope)
        } catch {
            throw Failure("cannot list serial ports: \(error.description)", status: 69)
        }
        // The monitor starts before the list prints, so nothing plugged in
        // between the two is missed.
        let events: AsyncStream<HotplugEvent>?
        do {
            events = watch ? try RadioDiscovery.hotplugEvents(scope) : nil
        } catch {
            throw Failure("cannot watch for serial ports: \(error.description)", status: 69)
        }
        let holders = PortUsers.holders(of: found.map(\.path))
        let probes = probe ? PortProbe.probe(paths: found.map(\.path), timeout: probeTimeout, settings: settings,
                                             holders: holders) : [:]
        let entries = found.map { PortEntry(port: $0, holders: holders[$0.path] ?? [], probe: probes[$0.path]) }

        if json && !watch {
            emit(JSON.line(entries))
        } else {
            for entry in entries {
                emit(json ? JSON.line(ListEventJSON(event: "present", key: eventKey, entry: entry)) : text(entry))
            }
        }
        if !watch && !json && entries.isEmpty {
            note(all ? "no serial ports attached"
                     : "no radios attached (radio-cli list --all shows every serial port, --all --probe asks each one)")
        }
        warnAboutLatency(found)
        guard let events else { return }
        let stop = Task {
            for await event in events {
                switch event {
                case .added(let port):
                    if probe { PortProbe.waitForNode(port.path) }
                    let holders = PortUsers.holders(of: port.devnode)
                    let result = probe ? PortProbe.probe(path: port.path, timeout: probeTimeout, settings: settings,
                                                         holders: holders) : nil
                    let entry = PortEntry(port: port, holders: holders, probe: result)
                    emit(json ? JSON.line(ListEventJSON(event: "add", key: eventKey, entry: entry)) : "+ " + text(entry))
                    warnAboutLatency([port])
                case .removed(let devnode, let serial):
                    emit(json ? JSON.line(ListEventJSON(event: "remove", devnode: devnode, serial: serial))
                              : "- \(devnode)" + (serial.map { " (serial \($0))" } ?? ""))
                }
            }
        }
        await stopSignal?.wait()
        stopSignal?.cancel()
        stop.cancel()
    }

    /// `list --probe PORT...`: the named ttys, described by udev where it
    /// knows them, each probed.
    func probeNamed() throws {
        let known = (try? RadioDiscovery.ports(.all)) ?? []
        let holders = PortUsers.holders(of: ports)
        let results = PortProbe.probe(paths: ports, timeout: probeTimeout, settings: settings, holders: holders)
        let entries = ports.map { path in
            let real = PortUsers.resolved(path)
            var port = known.first { $0.devnode == real || $0.devnode == path || $0.links.contains(path) }
                ?? AttachedPort(unknownTTY: path)
            port.devnode = path
            return PortEntry(port: port, holders: holders[path] ?? [], probe: results[path])
        }
        if json {
            emit(JSON.line(entries))
        } else {
            for entry in entries { emit(text(entry)) }
        }
        let missing = entries.filter { $0.probe?.identity == nil }.count
        if missing > 0 {
            throw Failure("\(missing) of \(entries.count) ports did not answer as a radio", status: 69)
        }
    }

    /// The key a watch event carries its port under: `radio` (as before
    /// --all existed), or `port` when non-radios are listed too.
    var eventKey: String { all ? "port" : "radio" }

    /// A port's line, then its links (with --all) and its probe result.
    func text(_ entry: PortEntry) -> String {
        let r = entry.port
        var parts = [r.stableLink.map { "\($0) -> \(r.devnode)" } ?? r.devnode]
        if let vendor = r.vendorID, let product = r.productID { parts.append("\(vendor):\(product)") } else if let bus = r.bus {
            parts.append(bus)
        }
        if let s = r.serialNumber { parts.append("serial \(s)") }
        let name = [r.manufacturer, r.product].compactMap { $0 }.joined(separator: " ")
        if !name.isEmpty { parts.append(name) }
        if let d = r.driver { parts.append(d) }
        if let l = r.latencyTimerMillis { parts.append("latency \(l) ms" + (r.latencyTimerIsSlow ? " (slow: 1 ms wanted)" : "")) }
        parts.append(entry.holders.isEmpty ? "free" : "in use by " + entry.holders.map(\.description).joined(separator: ", "))
        if all {
            parts.append(r.tagged ? "radio (udev rules)" : r.knownRadio ? "radio (adapter table)" : "not a known radio")
        } else if r.knownRadio && !r.tagged {
            parts.append("(no udev rules: make install-udev)")
        }
        var lines = [parts.joined(separator: "  ")]
        if all {
            for link in r.links where link != r.stableLink { lines.append("    link: \(link)") }
        }
        if let result = entry.probe {
            lines.append("    probe: \(result)")
            if let id = result.identity, id.serialNumber != r.serialNumber, !id.serialNumber.isEmpty, r.syspath != nil {
                lines.append("    open it wherever it is plugged in: --port 'udev://?serial=\(id.serialNumber)'")
            }
        }
        return lines.joined(separator: "\n")
    }

    func warnAboutLatency(_ ports: [AttachedPort]) {
        for port in ports {
            if let warning = RadioDiscovery.latencyWarning(for: port) { note("warning: \(warning)") }
        }
    }

    func note(_ line: String) {
        Console.error("radio-cli: \(line)\n")
    }

    /// One line to stdout, written at once (a pipe reader sees each event as it happens).
    func emit(_ line: String) {
        Console.out((line + "\n"))
    }
}
