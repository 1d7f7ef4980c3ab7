import ArgumentParser
import Foundation
import RadioDiscovery

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List radios attached by USB (found through udev), or watch them come and go.",
        discussion: """
            A radio is a tty whose USB adapter is in udev-rules/adapters.tsv, or that the \
            udev rules tagged ID_RADIO=1. Open one by its serial number, wherever it is \
            attached, with --port udev://?serial=SERIAL. --watch prints each arrival and \
            departure as it happens, until SIGINT or SIGTERM.
            """)

    @Flag(name: .long, help: "Print a JSON array (with --watch, one JSON object per event).")
    var json = false

    @Flag(name: .long, help: "After the list, print radios as they are plugged in and out.")
    var watch = false

    func run() async throws {
        // Before anything is printed: a script may send SIGTERM as soon as
        // it has read the first line.
        let stopSignal = watch ? SignalCatcher() : nil
        let radios: [AttachedRadio]
        do {
            radios = try RadioDiscovery.attachedRadios()
        } catch {
            throw Failure("cannot list radios: \(error.description)", status: 69)
        }
        // The monitor starts before the list prints, so nothing plugged in
        // between the two is missed.
        let events: AsyncStream<HotplugEvent>?
        do {
            events = watch ? try RadioDiscovery.hotplugEvents() : nil
        } catch {
            throw Failure("cannot watch for radios: \(error.description)", status: 69)
        }
        if json && !watch {
            emit(JSON.line(radios))
        } else {
            for radio in radios { emit(json ? JSON.line(ListEventJSON(event: "present", radio: radio)) : line(radio)) }
        }
        if !watch && !json && radios.isEmpty {
            FileHandle.standardError.write(Data("radio-cli: no radios attached\n".utf8))
        }
        for radio in radios {
            if let warning = RadioDiscovery.latencyWarning(forTTY: radio.devnode) {
                FileHandle.standardError.write(Data("radio-cli: warning: \(warning)\n".utf8))
            }
        }
        guard let events else { return }
        let stop = Task {
            for await event in events {
                switch event {
                case .added(let radio):
                    emit(json ? JSON.line(ListEventJSON(event: "add", radio: radio)) : "+ " + line(radio))
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

    func line(_ r: AttachedRadio) -> String {
        var parts = [r.stableLink.map { "\($0) -> \(r.devnode)" } ?? r.devnode, "\(r.vendorID):\(r.productID)"]
        if let s = r.serialNumber { parts.append("serial \(s)") }
        let name = [r.manufacturer, r.product].compactMap { $0 }.joined(separator: " ")
        if !name.isEmpty { parts.append(name) }
        if let d = r.driver { parts.append(d) }
        if let l = r.latencyTimerMillis { parts.append("latency \(l) ms") }
        if !r.tagged { parts.append("(no udev rules: make install-udev)") }
        return parts.joined(separator: "  ")
    }

    /// One line to stdout, written at once (a pipe reader sees each event as it happens).
    func emit(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
