import ArgumentParser
import Logging
import RadioIO
import Dispatch
import FoundationEssentials
import Glibc
import RadioDaemon
import RadioDriver
import RadioMetrics

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Share one radio with many clients (a daemon).",
        discussion: """
            Opens the radio on --port and serves it to any number of clients over TCP and \
            Unix sockets, in the radio's own framed protocol: clients connect unchanged with \
            --port tcp://HOST:PORT or --port unix:///PATH (radio-cli, the driver library, or \
            any implementation of docs/PROTOCOL.md). Each client's requests reach the radio \
            with their sequence numbers rewritten and the replies come back to that client \
            only; telemetry goes to every client. A client that stops reading is disconnected \
            once --client-queue bytes wait for it. If the radio's port goes away the daemon \
            keeps its clients, tells them (a Link frame: calls fail at once as 'disconnected', \
            monitors show the outage) and reopens the port.

            --listen takes unix:PATH or HOST:PORT (port 0 picks a free one; \
            \(ListenAddress.defaultPort) is the usual one), and may be given more than once. \
            Without it, the daemon listens on a Unix socket only this user can reach: \
            $XDG_RUNTIME_DIR/radio-cli/serve.sock (or /run/radio-cli/serve.sock as root). A \
            Unix socket is created mode 0660 (its owner and group, whatever the umask); TCP on \
            loopback lets every local user drive the radio, so it is opt-in. Only loopback \
            addresses are accepted unless --allow-remote is given: the protocol has no \
            authentication. One line per listener goes to stdout when it is ready \
            ("listening on tcp://127.0.0.1:7362"; with --json, {"event":"listening","url":...}); connections and link events are logged to \
            stderr. SIGUSR1 logs the counters so far (key=value); SIGTERM or Ctrl-C stops it \
            cleanly (exit 0) and logs them. A port that does not reconnect (?reconnect=off) \
            going away ends it with exit 69.

            --metrics HOST:PORT serves Prometheus metrics at http://HOST:PORT/metrics (\
            \(MetricsServer.defaultPort) is the usual port; loopback only unless --allow-remote): \
            the radio's telemetry, settings, link and error counters, round-trip histograms \
            per command, and the daemon's clients (docs/monitoring/README.md). With it the \
            daemon asks the radio GetState itself at start, after an outage and every \
            \(Serve.stateQuerySeconds) s. A scrape is answered on a thread of its own.
            """ + examples(
            ["radio-cli serve --port /dev/radio/A1B2C3 --listen 127.0.0.1:7362", "radio-cli serve --port /dev/ttyUSB0 --metrics 127.0.0.1:9464", "radio-cli monitor --port tcp://127.0.0.1:7362    # from another tool"]))

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, parsing: .singleValue,
            help: ArgumentHelp("Where to listen: HOST:PORT or unix:PATH; repeatable.", valueName: "address"),
            transform: parseListenAddress)
    var listen: [ListenAddress] = []

    @Option(name: .long, help: ArgumentHelp("Serve Prometheus metrics at http://HOST:PORT/metrics.", valueName: "host:port"),
            transform: parseListenAddress)
    var metrics: ListenAddress?

    @Flag(name: .long, help: "Allow listening on addresses other than loopback.")
    var allowRemote = false

    @Option(name: .long, help: ArgumentHelp("Bytes that may wait for one client before it is disconnected.", valueName: "bytes"))
    var clientQueue: Int = 256 * 1024

    @Option(name: .long, help: "Requests one client may have at the radio at once; more are answered busy.")
    var maxInFlight: Int = 64

    @Option(name: .long, help: "Clients served at once; more are refused.")
    var maxClients: Int = 256

    @Option(name: .long, help: ArgumentHelp(
        "Seconds a client has to send its first complete frame, and to finish any frame it starts; then it is disconnected.",
        valueName: "seconds"))
    var frameTimeout: Double = 10

    @Flag(name: .long, help: "Log only the radio link and errors, not each connection.")
    var quiet = false

    func validate() throws {
        guard clientQueue >= 4096 else { throw ValidationError("--client-queue must be at least 4096 bytes, got \(clientQueue)") }
        guard (1...65_535).contains(maxInFlight) else { throw ValidationError("--max-in-flight must be 1...65535, got \(maxInFlight)") }
        guard (1...65_536).contains(maxClients) else { throw ValidationError("--max-clients must be 1...65536, got \(maxClients)") }
        guard frameTimeout.isFinite, frameTimeout >= 0.1, frameTimeout <= 3600 else {
            throw ValidationError("--frame-timeout must be a number of seconds in [0.1, 3600], got \(frameTimeout)")
        }
    }

    func run() throws {
        var addresses = listen
        if addresses.isEmpty {
            // The default: a Unix socket only this user can reach (0700
            // directory, 0660 socket); TCP only when asked for.
            let (directory, path) = ListenAddress.defaultSocket(environment: ProcessInfo.processInfo.environment)
            if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw Failure("cannot create \(directory) for the default socket: \(String(cString: strerror(errno)))"
                              + " (give --listen unix:PATH or HOST:PORT)", status: 73)
            }
            addresses = [.unix(path: path)]
        }
        // The metrics listener first: a bad --metrics fails before the radio is touched.
        var metricsServer: MetricsServer?
        if let metrics {
            do throws(ServeError) {
                metricsServer = try MetricsServer(listen: metrics, allowRemote: allowRemote, logger: Logger(label: "serve") {
                    LineLogHandler(label: $0)
                })
            } catch {
                throw Failure(error.message, status: error.exitStatus)
            }
        }
        let transport: any RadioTransport
        do throws(RadioError) {
            transport = try global.openTransport(try global.address())
        } catch {
            throw Failure(error)
        }
        var options = RadioDaemon.Options()
        options.allowRemote = allowRemote
        options.clientQueueBytes = clientQueue
        options.maxInFlightPerClient = maxInFlight
        options.maxClients = maxClients
        options.frameTimeout = .milliseconds(Int64((frameTimeout * 1000).rounded()))
        options.version = RadioCLI.configuration.version
        // --quiet is a log level: clients coming and going (info) are
        // left out; clients cut off, the radio and its link are not.
        var log = Logger(label: "serve") { LineLogHandler(label: $0) }
        log.logLevel = quiet ? .notice : .info
        let logger = log
        options.logger = logger
        let observer = metrics.map { _ in RadioMetrics() }
        if let observer {
            options.observer = observer
            options.stateQueryInterval = .seconds(Serve.stateQuerySeconds)
        }
        let daemon: RadioDaemon
        do throws(ServeError) {
            daemon = try RadioDaemon(transport: transport, listen: addresses, options: options)
        } catch {
            transport.close()
            throw Failure(error.message, status: error.exitStatus)
        }

        let signals = SignalCatcher([SIGINT, SIGTERM, SIGUSR1]) { sig in
            if sig == SIGUSR1 {
                // As dd does: the counters so far, and carry on.
                logger.notice("statistics: \(Serve.summary(daemon.statistics, clientsNow: daemon.clientCount))")
                return
            }
            logger.notice("\(sig == SIGTERM ? "SIGTERM" : "SIGINT"): stopping")
            daemon.stop()
        }
        signal(SIGPIPE, SIG_IGN)
        if let metricsServer, let observer {
            metricsServer.start { [daemon] buffer in
                observer.exposition(daemon.statistics, clientsConnected: daemon.clientCount, into: &buffer)
            }
        }
        // Only now, with the signal handlers in place, say we are ready:
        // a SIGTERM right after these lines must stop the daemon cleanly.
        logger.notice("serving \(transport.name)")
        // Unbuffered, so a script waiting for these lines sees them now;
        // the log says the same, for a service manager that keeps only stderr.
        let ready = global.json
            ? daemon.urls.map { JSON.line(ListeningJSON(event: "listening", url: "\($0)")) }
                + (metricsServer.map { [JSON.line(ListeningJSON(event: "metrics", url: $0.url))] } ?? [])
            : daemon.urls.map { "listening on \($0)" } + (metricsServer.map { ["metrics on \($0.url)"] } ?? [])
        Console.out(ready.map { $0 + "\n" }.joined())
        for line in ready { logger.notice("\(line)") }
        let failure = daemon.run()
        signals.cancel()
        metricsServer?.stop()
        transport.close()
        logger.notice("stopped: \(Serve.summary(daemon.statistics, clientsNow: nil))")
        if let failure { throw Failure(failure.message, status: failure.exitStatus) }
    }
}

extension Serve {
    /// How often the daemon asks the radio's state when serving metrics.
    static let stateQuerySeconds: Int64 = 15

    /// The daemon's counters as key=value pairs, for grep and scripts.
    static func summary(_ s: RadioDaemon.Statistics, clientsNow: Int?) -> String {
        (clientsNow.map { "connected=\($0) " } ?? "")
            + s.named.map { "\(String($0.name.map { $0 == "_" ? "-" : $0 }))=\($0.value)" }.joined(separator: " ")
    }
}

extension ServeError {
    /// The line radio-cli prints: the description, and the option that
    /// would change the outcome.
    var message: String {
        switch remedy {
        case .allowRemote?: description + "; add --allow-remote to mean it"
        case nil: description
        }
    }

    /// The sysexits status radio-cli exits with.
    var exitStatus: Int32 {
        switch kind {
        case .usage: 64        // EX_USAGE
        case .unavailable: 69  // EX_UNAVAILABLE
        case .system: 71       // EX_OSERR
        case .permission: 77   // EX_NOPERM
        }
    }
}
