import ArgumentParser
import CRadioSystem
import FoundationEssentials
import Glibc
import RadioDaemon
import RadioDriver
import RadioIO
import RadioLab
import RadioProtocol

/// The lab file: names for radios (`--port bench-3`, `RADIO_PORT=bench-3`,
/// `radio-cli places`). $RADIO_LAB names the file (one shared path for a
/// whole lab); else /etc/radio/lab.yaml, then the user's
/// $XDG_CONFIG_HOME/radio/lab.yaml (~/.config/radio/lab.yaml), whose names
/// win.
enum Lab {
    static let systemFile = "/etc/radio/lab.yaml"

    /// The files to read, and whether each must exist.
    static func files() -> [(path: String, required: Bool)] {
        if let lab = environment("RADIO_LAB") { return [(lab, true)] }
        let config = environment("XDG_CONFIG_HOME") ?? environment("HOME").map { $0 + "/.config" }
        return [(systemFile, false)] + (config.map { [($0 + "/radio/lab.yaml", false)] } ?? [])
    }

    static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Every file's places, later names replacing earlier ones.
    static func load() throws(RadioError) -> LabFile {
        var lab = LabFile()
        for (path, required) in files() {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 {
                let e = errno
                if e == ENOENT && !required { continue }
                throw .configuration("cannot read the lab file \(path): \(String(cString: strerror(e)))"
                                     + (e == ENOENT ? " (RADIO_LAB names it)" : ""))
            }
            defer { close(fd) }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while bytes.count <= 1 << 20 {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break }
                bytes += chunk[0..<n]
            }
            guard bytes.count <= 1 << 20 else { throw .configuration("the lab file \(path) is over 1 MiB: is it the right file?") }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw .configuration("the lab file \(path) is not UTF-8 text")
            }
            let file: LabFile
            do throws(LabFileError) {
                file = try LabFile.parse(text, file: path)
            } catch {
                throw .configuration("lab file \(error)")
            }
            for place in file.places {
                do throws(RadioError) {
                    _ = try portSchemes.parse(place.port)
                } catch {
                    throw .configuration("lab file \(place.file):\(place.line): place '\(place.name)': \(error)")
                }
                if LabFile.isName(place.port) && !portSchemes.isWord(place.port) {
                    throw .configuration("lab file \(place.file):\(place.line): place '\(place.name)' names another name "
                                         + "('\(place.port)'), not a port")
                }
            }
            lab = lab.merging(file)
        }
        return lab
    }

    /// `text` itself, unless it is a place name (no '/' or ':', not a word
    /// such as sim): then the port the lab file gives it.
    static func port(for text: String) throws(RadioError) -> String {
        guard LabFile.isName(text), !portSchemes.isWord(text) else { return text }
        let lab = try load()
        if let place = lab.place(named: text) { return place.port }
        // A bare word that names no place may still be a tty in the
        // current directory ("ttyUSB0" after cd /dev): it is used as one.
        if access(text, F_OK) == 0 { return text }
        let names = lab.places.map(\.name)
        let where_ = files().map(\.path).joined(separator: ", ")
        throw .notFound("'\(text)' is not a path, a URL or a place in the lab file (\(where_)"
                        + (names.isEmpty ? ": none names any place" : "; places: \(names.joined(separator: ", "))") + ")")
    }
}

/// Who asks for a lease: user@host:pid, as `who` shows it.
func leaseHolderName() -> String {
    let user = Lab.environment("USER") ?? getpwuid(getuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "uid\(getuid())"
    var host = [CChar](repeating: 0, count: 256)
    let name = gethostname(&host, host.count) == 0 ? String(cString: host) : "localhost"
    let short = name.split(separator: ".").first.map(String.init) ?? name
    // Shown in the daemon's log and on others' terminals (§11.1).
    var holder = ""
    for scalar in "\(user)@\(short):\(getpid())".unicodeScalars {
        holder.unicodeScalars.append(scalar.value < 0x20 || scalar.value == 0x7F ? "?" : scalar)
    }
    return holder
}

/// `--for 10m`: seconds, or a number with s, m, h or d.
func parseLeaseDuration(_ text: String) throws -> UInt32 {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
    var number = Substring(text), scale = 1.0
    if let last = text.last, let u = units[last] {
        number = text.dropLast()
        scale = u
    }
    guard let value = Double(number), value.isFinite, value > 0 else {
        throw ValidationError("--for takes a duration such as 90s, 10m, 2h or 1d, got '\(text)'")
    }
    let seconds = (value * scale).rounded(.up)
    guard seconds <= Double(LockRequest.maxSeconds) else {
        throw ValidationError("--for is at most 7d (\(LockRequest.maxSeconds) s), got '\(text)'")
    }
    return UInt32(seconds)
}

extension GlobalOptions {
    /// A request only a sharing daemon answers; a port that is not one
    /// (a radio answers `unknown command`) is said so in one line.
    func daemonCall(_ client: RadioClient, _ request: DaemonRequest,
                    timeout: Duration? = nil) async throws(RadioError) -> DaemonReply {
        do {
            return try await client.daemon(request, timeout: timeout)
        } catch .device(_, .unknownCommand) {
            throw .invalidRequest("\(client.portName) is a radio, not a sharing daemon: leases and status are "
                                  + "kept by 'radio-cli serve' (give its tcp:// or unix:// port)")
        }
    }

    /// The daemon's status document, page by page.
    func fetchStatus(_ client: RadioClient, timeout: Duration? = nil) async throws(RadioError) -> DaemonStatus {
        var bytes: [UInt8] = []
        var total = 0
        repeat {
            guard case .status(let t, let page) = try await daemonCall(client, .status(offset: UInt32(bytes.count)), timeout: timeout)
            else { throw .malformedResponse(.status) }
            total = Int(t)
            if page.isEmpty && bytes.count < total { throw .malformedResponse(.status) }
            bytes += page
        } while bytes.count < total
        do {
            return try DaemonStatus(bytes: bytes)
        } catch {
            throw .malformedResponse(.status)
        }
    }
}

struct Lock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Take the write lease on a shared radio (radio-cli serve).",
        usage: "radio-cli lock [--for <duration>] [--reason <text>] [--wait] [--keep] [<options>] [-- <command> ...]",
        discussion: """
            While the lease is held, set commands from every other client of the daemon are \
            answered busy with the holder's name; reads and telemetry stay open to all. The \
            lease is held by this process's connection (user@host:pid) and by any client \
            that presents its token (RADIO_LEASE in the environment). It ends at --for \
            (default 10m), with 'radio-cli unlock', or when this connection closes.

            With a command after --, the command runs under the lease (RADIO_LEASE and \
            RADIO_PORT set for it), the lease is renewed while it runs and given back when \
            it ends; radio-cli exits with the command's status. With --keep the lease \
            outlives this process: its token is printed (export RADIO_LEASE=... for the \
            commands that follow) and it lasts until --for or 'radio-cli unlock'. With \
            neither, radio-cli holds the lease until --for runs out or Ctrl-C.

            --wait queues for a lease another holds (first come, first served) instead of \
            failing with exit 75; --wait-limit bounds the wait. Run again by the holder \
            (or with its RADIO_LEASE), lock renews the lease from now.
            """ + examples([
                "radio-cli lock --port bench-3 --for 30m --reason 'BER sweep' -- ./sweep.sh",
                "export RADIO_LEASE=$(radio-cli lock --port bench-3 --keep --for 8h --json | jq -r .token)",
                "radio-cli lock --port tcp://lab-pc-3:7362 --wait --wait-limit 600 -- pytest tests/hil",
                "radio-cli who --port bench-3",
            ]))

    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("for"), help: ArgumentHelp("How long the lease lasts: 90s, 10m, 2h, 1d.", valueName: "duration"),
            transform: parseLeaseDuration)
    var duration: UInt32 = 600

    @Option(name: .long, help: ArgumentHelp("Why, for 'radio-cli who' (at most 200 bytes).", valueName: "text"))
    var reason: String = ""

    @Flag(name: .long, help: "Queue for the lease if another holds it.")
    var wait = false

    @Option(name: .long, help: ArgumentHelp("With --wait: give up after this many seconds (default: wait on).", valueName: "seconds"))
    var waitLimit: Double?

    @Flag(name: .long, help: "The lease outlives this process (print its token and exit).")
    var keep = false

    @Argument(parsing: .postTerminator, help: ArgumentHelp("A command to run under the lease.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        guard reason.utf8.count <= LockRequest.maxReasonBytes else {
            throw ValidationError("--reason is at most \(LockRequest.maxReasonBytes) bytes, got \(reason.utf8.count)")
        }
        guard LeaseText.isPrintable(reason) else {
            throw ValidationError("--reason is shown in logs and on terminals: no control characters (newlines, escapes)")
        }
        if let waitLimit {
            guard wait else { throw ValidationError("--wait-limit goes with --wait") }
            guard waitLimit.isFinite, waitLimit > 0, waitLimit <= 7 * 86_400 else {
                throw ValidationError("--wait-limit must be a number of seconds up to 7 days, got \(waitLimit)")
            }
        }
        if keep && !command.isEmpty {
            throw ValidationError("--keep leaves the lease behind; a command after -- holds it while it runs: give one or the other")
        }
    }

    var request: LockRequest {
        LockRequest(seconds: duration, holder: leaseHolderName(), reason: reason, keep: keep, wait: wait)
    }

    func run() async throws {
        // In `radio-cli shell` the lease is the shell's connection's, until
        // unlock or the shell ends.
        if let shared = ShellSession.client {
            let reply = try await take(shared)
            report(reply, client: shared, holding: false)
            return
        }
        let client = try await global.openClient()
        defer { client.close() }
        let reply = try await take(client)
        guard case .locked(let token, _, _) = reply else { throw Failure(RadioError.malformedResponse(.lock)) }
        report(reply, client: client, holding: !keep)
        if keep { return }
        if command.isEmpty {
            try await hold(client)
        } else {
            let status = try await runUnderLease(client, token: token)
            _ = try? await client.daemon(.unlock(token: 0, force: false))
            if status != 0 { throw Failure(quietStatus: status) }
        }
    }

    /// Lock, waiting if asked; the errors worded for a lease.
    private func take(_ client: RadioClient) async throws -> DaemonReply {
        let timeout: Duration? = wait ? .milliseconds(Int64(((waitLimit ?? 7 * 86_400) * 1000).rounded())) : nil
        if wait && !global.json {
            Console.error("radio-cli: waiting for the lease on \(client.portName) (Ctrl-C gives up)\n")
        }
        do {
            return try await global.daemonCall(client, .lock(request), timeout: timeout)
        } catch .timeout where wait {
            throw Failure("gave up waiting for the lease on \(client.portName) after \(waitLimit ?? 0) s", status: 75)
        } catch .device(_, .outOfRange) {
            throw Failure("the daemon refused --for \(duration) s (1 s to 7 days)", status: 65)
        } catch {
            throw Failure(error)
        }
    }

    private func report(_ reply: DaemonReply, client: RadioClient, holding: Bool) {
        guard case .locked(let token, let left, let renewed) = reply else { return }
        let port = global.label(client)
        if global.json {
            JSON.emit(LockJSON(event: renewed ? "renewed" : "locked", port: port.port, token: leaseToken(token),
                               holder: request.holder, left_s: Int(left), keep: keep, reason: reason))
            return
        }
        var lines = ["\(renewed ? "renewed the lease on" : "locked") \(port.text) for \(formatSeconds(left)) "
                     + "as \(request.holder) (token \(leaseToken(token)))"]
        if keep {
            lines.append("the lease outlives this process: export RADIO_LEASE=\(leaseToken(token)) for the commands "
                         + "that use it; 'radio-cli unlock' gives it back")
        } else if holding && command.isEmpty {
            lines.append("holding it until Ctrl-C, or for \(formatSeconds(left)); RADIO_LEASE=\(leaseToken(token)) lets "
                         + "another shell's commands use it")
        }
        Console.out(lines.map { $0 + "\n" }.joined())
    }

    /// Holds the lease until it runs out or a signal; gives it back then.
    private func hold(_ client: RadioClient) async throws {
        let signals = SignalCatcher([SIGINT, SIGTERM, SIGHUP])
        defer { signals.cancel() }
        let ends = ContinuousClock.now + .seconds(Int64(duration))
        while ContinuousClock.now < ends {
            if let sig = await signals.fired(within: .seconds(1)) {
                _ = try? await client.daemon(.unlock(token: 0, force: false))
                if !global.json { Console.out("released the lease (\(sig == SIGINT ? "Ctrl-C" : "signal \(sig)"))\n") }
                return
            }
            if let n = client.lastLeaseNotice, n.holder == request.holder, n.event == .expired { break }
            if let lost = leaseLost(client) { throw Failure(lost, status: 75) }
        }
        if !global.json { Console.out("the lease ran out after \(formatSeconds(duration))\n") }
    }

    /// Why this process no longer holds the lease, if it does not.
    private func leaseLost(_ client: RadioClient) -> String? {
        if let gone = client.disconnection { return "lost the connection to the daemon, and the lease with it: \(gone)" }
        guard let n = client.lastLeaseNotice, n.holder == request.holder, n.event == .revoked else { return nil }
        return "the lease was \(n.reason)"
    }

    /// Runs the command with the lease's token and port in its environment,
    /// renewing the lease at half its length; returns its exit status.
    private func runUnderLease(_ client: RadioClient, token: UInt64) async throws -> Int32 {
        var environment: [String] = []
        var index = 0
        while let entry = environ[index] {
            let e = String(cString: entry)
            if !e.hasPrefix("RADIO_LEASE=") && !e.hasPrefix("RADIO_PORT=") { environment.append(e) }
            index += 1
        }
        environment += ["RADIO_LEASE=\(leaseToken(token))", "RADIO_PORT=\(global.resolvedPort)"]
        var pid: Int32 = 0
        let rc = withCStrings(command) { argv in
            withCStrings(environment) { envp in radio_spawn_command(argv[0], argv, envp, &pid) }
        }
        guard rc == 0 else {
            _ = try? await client.daemon(.unlock(token: 0, force: false))
            throw Failure("cannot run \(command[0]): \(String(cString: strerror(rc)))", status: rc == ENOENT ? 127 : 126)
        }
        // The terminal's Ctrl-C reaches the command itself (same process
        // group); a signal sent to radio-cli alone is passed on.
        let child = pid
        let signals = SignalCatcher([SIGINT, SIGTERM, SIGHUP]) { sig in kill(child, sig) }
        defer { signals.cancel() }
        let renewEvery = Duration.seconds(max(1, Int64(duration) / 2))
        var nextRenewal = ContinuousClock.now + renewEvery
        var warned = false
        while true {
            var status: Int32 = 0
            let done = waitpid(pid, &status, WNOHANG)
            if done == pid {
                let exited = status & 0x7F == 0
                return exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            }
            if done < 0 && errno != EINTR { return 70 }
            if ContinuousClock.now >= nextRenewal {
                nextRenewal = ContinuousClock.now + renewEvery
                do {
                    _ = try await client.daemon(.lock(request))
                } catch {
                    if !warned { Console.error("radio-cli: warning: could not renew the lease: \(error)\n") }
                    warned = true
                }
            }
            // A lease may be held for hours: ten looks a second, not fifty.
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// Calls `body` with `strings` as a NULL-terminated C array.
func withCStrings<T>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> T) -> T {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    // Never nil: the array holds at least its terminating nil.
    return pointers.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}

struct Unlock: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock",
        abstract: "Give back the write lease on a shared radio.",
        discussion: """
            Gives back the lease named by --token, else by $RADIO_LEASE, else the one this \
            connection holds (in 'radio-cli shell', the shell's). --force ends whoever's \
            lease it is (they are told: 'revoked by' this client); use it for a lease left \
            behind. Exit 0 when the lease went or none was held; 75 when another holds it.
            """ + examples(["radio-cli unlock --port bench-3", "RADIO_LEASE=0123456789abcdef radio-cli unlock --port bench-3",
                            "radio-cli unlock --port bench-3 --force"]))

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("The token 'radio-cli lock' printed (default: $RADIO_LEASE).", valueName: "token"))
    var token: String?

    @Flag(name: .long, help: "End the lease whoever holds it.")
    var force = false

    func validate() throws {
        if let token, leaseToken(parsing: token) == nil {
            throw ValidationError("--token takes the 16 hex digits 'radio-cli lock' printed, got '\(token)'")
        }
    }

    func run() async throws {
        let value = try token.flatMap(leaseToken(parsing:)) ?? leaseFromEnvironment() ?? 0
        let shared = ShellSession.client
        let client = if let shared { shared } else { try await global.openClient(claim: false) }
        defer { if shared == nil { client.close() } }
        let port = global.label(client)
        let reply: DaemonReply
        var lease: LeaseInfo?
        do throws(RadioError) {
            reply = try await global.daemonCall(client, .unlock(token: value, force: force))
            if case .unlocked(false) = reply, case .lease(let l) = try await global.daemonCall(client, .lease) { lease = l }
        } catch .device(_, .notHeld) {
            throw Failure("token \(leaseToken(value)) is not the lease on \(port.text) (it expired, or was given back)", status: 65)
        } catch {
            throw Failure(error)
        }
        guard case .unlocked(let released) = reply else { throw Failure(RadioError.malformedResponse(.unlock)) }
        if !released, let lease, !lease.yours {
            throw Failure("\(port.text) is locked by \(lease.holder), not by this client: give --token (or RADIO_LEASE), "
                          + "or --force to take it from them", status: 75)
        }
        if global.json {
            JSON.emit(UnlockJSON(port: port.port, released: released))
        } else {
            Console.out(released ? "unlocked \(port.text)\n" : "\(port.text) was not locked\n")
        }
    }
}

/// $RADIO_LEASE, checked; nil when unset.
func leaseFromEnvironment() throws -> UInt64? {
    guard let text = Lab.environment("RADIO_LEASE") else { return nil }
    guard let token = leaseToken(parsing: text) else {
        throw Failure("RADIO_LEASE must be the 16 hex digits 'radio-cli lock' printed, got '\(text)'", status: 64)
    }
    return token
}

struct Who: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "who", abstract: "Show who holds the lease on a shared radio.",
        discussion: "The holder (user@host:pid), since when, until when, the reason, and how many wait for it."
            + examples(["radio-cli who --port bench-3", "radio-cli who --port tcp://lab-pc-3:7362 --json"]))

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (port, reply) = try await global.withRadio { r throws(RadioError) in
            (global.label(r), try await global.daemonCall(r, .lease))
        }
        guard case .lease(let lease) = reply else { throw Failure(RadioError.malformedResponse(.lease)) }
        let now = WallClock.unixSeconds()
        if global.json {
            JSON.emit(WhoJSON(port: port.port, lease: lease.map { LeaseJSON($0, now: now) }))
            return
        }
        guard let lease else {
            Console.out("\(port.text): not locked\n")
            return
        }
        var line = "\(port.text): locked by \(lease.holder)\(lease.yours ? " (this client)" : "")"
            + " since \(clockTime(now - Double(lease.heldSeconds))) (\(formatSeconds(lease.heldSeconds)) ago),"
            + " until \(clockTime(now + Double(lease.leftSeconds))) (\(formatSeconds(lease.leftSeconds)) left)"
        if lease.keep { line += ", kept after its connection closes" }
        if !lease.reason.isEmpty { line += "; reason: \(lease.reason)" }
        if lease.waiting > 0 { line += "; \(lease.waiting) waiting" }
        Console.out(line + "\n")
    }
}

/// "14:05:09", local time, for `who`.
func clockTime(_ unixSeconds: Double) -> String {
    var t = time_t(unixSeconds.rounded())
    var parts = tm()
    localtime_r(&t, &parts)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show a sharing daemon's state: radio, link, lease, clients, counters.",
        discussion: """
            Asks a daemon ('radio-cli serve') for its status document: the radio's identity and \
            link, the lease, every connected client with its requests in flight and queued, \
            the counters SIGUSR1 logs, uptime and version. --json prints the document as the \
            daemon sent it, with the port added.
            """ + examples(["radio-cli status --port bench-3", "radio-cli status --port unix:///run/radio/A1B2C3.sock --json | jq .clients"]))

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (port, status) = try await global.withRadio { r throws(RadioError) in (global.label(r), try await global.fetchStatus(r)) }
        if global.json {
            JSON.emit(StatusJSON(port: port.port, status: status))
            return
        }
        var lines: [String] = []
        let radio = status.radio.map { "\($0.model), serial \($0.serial_number), firmware \($0.firmware_version)" } ?? "not identified yet"
        lines.append("\(port.text): \(status.version), up \(formatSeconds(UInt32(clamping: Int(status.uptime_s))))")
        lines.append("radio:   \(radio) on \(status.radio_port)")
        lines.append("link:    " + (status.link.up ? "up" : "down for \(fixed(status.link.down_s ?? 0, 1)) s: \(status.link.reason ?? "")"))
        if let l = status.lease {
            lines.append("lease:   \(l.holder) for \(formatSeconds(UInt32(l.left_s))) more\(l.reason.isEmpty ? "" : " (\(l.reason))")"
                         + (l.waiting > 0 ? ", \(l.waiting) waiting" : ""))
        } else {
            lines.append("lease:   none")
        }
        lines.append("clients: \(status.clients_connected) connected")
        for c in status.clients {
            lines.append("  \(c.id): \(c.peer), \(fixed(c.connected_s, 1)) s, \(c.requests) requests, \(c.in_flight) in flight, "
                         + "\(c.queued) queued" + (c.holds_lease ? ", holds the lease" : "") + (c.waits_for_lease ? ", waits for the lease" : ""))
        }
        lines.append("counters: " + status.counters.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        Console.out(lines.map { $0 + "\n" }.joined())
    }
}

struct Places: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "places", abstract: "List the lab file's radios with their state and lease.",
        discussion: """
            Asks every place in the lab file at once, each within --timeout (default 1 s): a \
            daemon for its status (radio, link, lease, clients), a radio on a port of this \
            host for its Identify. A place that does not answer in time is listed as down, \
            with why. The lab file is $RADIO_LAB, else /etc/radio/lab.yaml and \
            ~/.config/radio/lab.yaml. Exit 0 even when some are down (the table says so); \
            78 when the lab file does not parse.
            """ + examples(["radio-cli places", "radio-cli places --json | jq 'select(.state == \"up\")'",
                            "RADIO_LAB=/net/lab/radio-lab.yaml radio-cli places --timeout 0.5"]))

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let lab: LabFile
        do throws(RadioError) { lab = try Lab.load() } catch { throw Failure(error) }
        guard !lab.places.isEmpty else {
            throw Failure("no places: the lab file (\(Lab.files().map(\.path).joined(separator: ", "))) names none", status: 78)
        }
        let global = self.global
        let rows = await withTaskGroup(of: (Int, PlaceJSON).self) { group in
            for (i, place) in lab.places.enumerated() {
                group.addTask { (i, await Places.ask(place, global: global)) }
            }
            var rows = [PlaceJSON?](repeating: nil, count: lab.places.count)
            for await (i, row) in group { rows[i] = row }
            return rows.compactMap { $0 }
        }
        if global.json {
            for row in rows { JSON.emit(row) }
            return
        }
        let table = [["NAME", "STATE", "RADIO", "LEASE", "CLIENTS", "PORT"]] + rows.map { r in
            [r.name, r.state + (r.error.map { ": \($0)" } ?? ""),
             r.serial_number.map { "\(r.model ?? "?") \($0)" } ?? "-",
             r.lease.map { "\($0.holder) (\(formatSeconds(UInt32($0.left_s))) left)" } ?? "-",
             r.clients.map(String.init) ?? "-", r.port]
        }
        let widths = (0..<6).map { c in table.map { $0[c].count }.max() ?? 0 }
        Console.out(table.map { row in
            row.enumerated().map { c, cell in c == 5 ? cell : leftAligned(cell, widths[c]) }.joined(separator: "  ") + "\n"
        }.joined())
    }

    /// One place's row: its daemon's status, or the radio's Identify, or why not.
    static func ask(_ place: LabFile.Place, global: GlobalOptions) async -> PlaceJSON {
        var row = PlaceJSON(name: place.name, port: place.port, description: place.description.isEmpty ? nil : place.description)
        let opened: Result<RadioClient, RadioError> = await onThread {
            Result { () throws(RadioError) in
                let address = try portSchemes.parse(place.port, settings: global.settings)
                return RadioClient(transport: try address.openTransport(timeout: global.deadline), options: global.clientOptions)
            }
        }
        let client: RadioClient
        switch opened {
        case .success(let c): client = c
        case .failure(let e):
            row.state = "down"
            row.error = e.description
            return row
        }
        defer { client.close() }
        do throws(RadioError) {
            let status = try await global.fetchStatus(client)
            row.state = status.link.up ? "up" : "radio away"
            row.kind = "daemon"
            row.model = status.radio?.model
            row.serial_number = status.radio?.serial_number
            row.lease = status.lease.map { LeaseJSON(holder: $0.holder, reason: $0.reason, held_s: $0.held_s, left_s: $0.left_s,
                                                     keep: $0.keep, waiting: $0.waiting) }
            row.clients = status.clients_connected
            if !status.link.up { row.error = status.link.reason }
        } catch .invalidRequest {
            // Not a daemon: a radio on this host's port.
            do throws(RadioError) {
                let id = try await client.identify()
                row.state = "up"
                row.kind = "radio"
                row.model = id.model
                row.serial_number = id.serialNumber
            } catch {
                row.state = "down"
                row.error = error.description
            }
        } catch {
            row.state = "down"
            row.error = error.description
        }
        return row
    }
}

/// Runs `body` on a thread of its own (a blocking connect must not hold
/// one of the cooperative pool's threads while the other places wait).
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        startThread(name: "radio-open") { continuation.resume(returning: body()) }
    }
}

/// `lock --json`.
struct LockJSON: Encodable {
    let event: String
    let port: String
    let token: String
    let holder: String
    let left_s: Int
    let keep: Bool
    let reason: String
}

struct UnlockJSON: Encodable {
    let port: String
    let released: Bool
}

/// A lease in `who`, `places`.
struct LeaseJSON: Encodable {
    let holder: String
    let reason: String
    let held_s: Int
    let left_s: Int
    let keep: Bool
    let waiting: Int
    /// Wall-clock times, Unix seconds (with `who`).
    var since_unix_s: Double?
    var until_unix_s: Double?
    var yours: Bool?

    init(holder: String, reason: String, held_s: Int, left_s: Int, keep: Bool, waiting: Int) {
        self.holder = holder
        self.reason = reason
        self.held_s = held_s
        self.left_s = left_s
        self.keep = keep
        self.waiting = waiting
    }

    init(_ l: LeaseInfo, now: Double) {
        self.init(holder: l.holder, reason: l.reason, held_s: Int(l.heldSeconds), left_s: Int(l.leftSeconds), keep: l.keep,
                  waiting: Int(l.waiting))
        since_unix_s = (now - Double(l.heldSeconds)).rounded()
        until_unix_s = (now + Double(l.leftSeconds)).rounded()
        yours = l.yours
    }
}

struct WhoJSON: Encodable {
    let port: String
    let lease: LeaseJSON?

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(port, forKey: .port)
        try c.encode(lease, forKey: .lease)  // null when free, not left out
    }
    enum Keys: String, CodingKey { case port, lease }
}

/// `status --json`: the daemon's document with the port first.
struct StatusJSON: Encodable {
    let port: String
    let status: DaemonStatus

    func encode(to encoder: any Encoder) throws {
        try status.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(port, forKey: .port)
    }
    enum Keys: String, CodingKey { case port }
}

/// `places --json`: one object per place.
struct PlaceJSON: Encodable {
    let name: String
    let port: String
    let description: String?
    /// up, down, or radio away (the daemon is up, its radio is not).
    var state = "down"
    /// daemon, or radio (a port of this host).
    var kind: String?
    var model: String?
    var serial_number: String?
    var lease: LeaseJSON?
    var clients: Int?
    var error: String?

    init(name: String, port: String, description: String?) {
        self.name = name
        self.port = port
        self.description = description
    }
}
