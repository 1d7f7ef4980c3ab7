#if canImport(Glibc)
import Glibc
#endif
import CRadioSystem
import Dispatch
import Locking
public import Logging
import RadioIO
public import RadioDriver
import RadioProtocol
import SystemPackage
import Synchronization

/// Shares one radio among many clients that speak the radio's own framed
/// protocol (docs/PROTOCOL.md §11), over TCP and Unix sockets.
///
/// Two threads: the *client loop* (`run`) accepts connections, reads
/// requests and forwards them to the radio with sequence numbers rewritten;
/// the *radio thread* reads the radio and sends each response to the client
/// that asked, with the client's own sequence number, and every unsolicited
/// frame (telemetry) to every client. Writes to clients never block: see
/// `Connection`.
public final class RadioDaemon: Sendable {
    public struct Options: Sendable {
        /// Bytes that may wait for one client before it is disconnected as
        /// not keeping up.
        public var clientQueueBytes = 256 * 1024
        /// Requests one client may have waiting at once, in the daemon and
        /// at the radio; more are answered `busy` without reaching it.
        public var maxInFlightPerClient = 64
        /// Of those, how many may be at the radio at once: the rest wait in
        /// the daemon, so that on a slow line one client's pipeline cannot
        /// fill the radio's queue ahead of everyone else's requests.
        public var radioShare = 4
        public var maxClients = 256
        /// How long an unanswered request is remembered. Far longer than any
        /// caller's deadline; a reply later than this is dropped.
        public var forgetAfter: Duration = .seconds(10)
        /// How long a forgotten request's number then stays out of use, so
        /// that its late reply (dropped) cannot match a newer request; a late
        /// reply frees it sooner. See `SequenceMap`.
        public var quarantine: Duration = .seconds(60)
        /// A client must send a complete frame within this long of
        /// connecting, and finish any frame it starts within this long, or
        /// it is disconnected: slow or silent connections cannot hold the
        /// `maxClients` slots.
        public var frameTimeout: Duration = .seconds(10)
        /// Listen on non-loopback addresses.
        public var allowRemote = false
        /// Where events worth a log line go: clients coming and going
        /// (info), clients cut off and refused (warning), the radio link
        /// (notice when it is up, error when it is down).
        public var logger = Logger(label: "serve", factory: { _ in SwiftLogNoOpLogHandler() })
        /// Told of what the radio says and how long it took (metrics).
        public var observer: (any RadioDaemonObserver)?
        /// With an observer: the daemon asks the radio GetState itself at
        /// start, after every outage and this often, so that settings and
        /// measurements are known without a client asking (nil: never).
        public var stateQueryInterval: Duration? = nil
        /// The daemon's version line, for the status document.
        public var version = "radio-daemon"
        public init() {}
    }

    /// Counters since the daemon started.
    public struct Statistics: Sendable, Hashable {
        public var clientsAccepted = 0
        public var clientsRefused = 0
        /// Requests forwarded to the radio.
        public var requests = 0
        /// Responses delivered to the client that asked.
        public var responses = 0
        /// Radio responses that matched no request in flight (late,
        /// duplicated), or whose client had left: dropped.
        public var unmatched = 0
        /// Unsolicited frames from the radio, each sent to every client.
        public var telemetryFrames = 0
        /// Requests answered `busy` by the daemon itself (radio link down,
        /// client over its in-flight limit, radio not taking bytes).
        public var busyReplies = 0
        /// Clients disconnected because they did not read.
        public var slowClients = 0
        /// Clients disconnected for owing a complete frame past `frameTimeout`.
        public var idleClients = 0
        /// Accepts that failed because the process or system had no
        /// descriptor left (EMFILE, ENFILE).
        public var descriptorShortages = 0
        /// Frames from clients that were not requests: dropped.
        public var ignoredFrames = 0
        public var clientDecodeErrors = 0
        public var radioDecodeErrors = 0
        /// Requests forgotten unanswered (see `Options.forgetAfter`).
        public var expired = 0
        public var outages = 0
        /// Outages that ended with the radio back.
        public var linkBacks = 0
        /// Requests repeating, same command and arguments, one of the same
        /// client's last 16 that the radio has not answered yet: a client's
        /// retries (a retry has a new sequence number, PROTOCOL.md §5).
        public var retries = 0
        /// Telemetry frames queued to clients (frames times clients).
        public var telemetryDeliveries = 0
        /// The radio side's decoder: frames with a bad CRC, frames that did
        /// not decode (COBS, too short, oversized: each a resync), and the
        /// bytes thrown away with both.
        public var radioCRCErrors = 0
        public var radioFramingErrors = 0
        public var radioDiscardedBytes = 0
        /// GetState and Identify requests the daemon sent itself
        /// (`stateQueryInterval`, and Identify while the radio has not answered one).
        public var stateQueries = 0
        /// Leases granted (§11.1), and changing requests refused because
        /// another connection held the lease.
        public var leasesGranted = 0
        public var leaseRefusals = 0
        /// Status pages served (§11.2).
        public var statusRequests = 0
        public init() {}
    }

    private struct State {
        var stopping = false
        /// Why `run` returns with an error (the radio is gone for good).
        var failure: ServeError?
        /// Why the radio link is down, while it is.
        var linkDown: String?
        var linkDownSince: ContinuousClock.Instant?
        /// The radio's port did not take a frame within `radioWriteLimit`:
        /// until it takes one at once, requests are answered busy without
        /// waiting, so the client loop stays free for clients and signals.
        var radioWedged = false
        /// Accepts failed for want of descriptors since the last warning.
        var descriptorFailures = 0
        var descriptorLogAt: ContinuousClock.Instant?
        /// The radio is back: the client loop asks its state (observer only).
        var stateQueryDue = false
        /// The radio answered Identify (at start, or the daemon's own later).
        var identified = false
        /// Who it said it was, for the status document.
        var identity: Identity?
    }

    /// The connections, for the radio thread to find by id or send to all.
    private struct Registry {
        var byID: [Int: Connection] = [:]
        var all: [Connection] = []
    }

    private struct RadioInput {
        var decoder = FrameDecoder()
        /// Freed in deinit.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 1)
    }

    private let transport: any RadioTransport
    private let listeners: [Listener]
    private let options: Options
    private let wake: WakeEvent
    private let state = Locked(State())
    private let stats = Locked(Statistics())
    private let registry = Locked(Registry())
    private let map: Locked<SequenceMap>
    /// `maxClients`, or fewer when the descriptor limit allows fewer.
    public let clientLimit: Int
    private let radioInput = Locked(RadioInput())
    private let radioDone = DispatchSemaphore(value: 0)
    /// The write lease (§11.1): the client loop's alone. `leaseHeld`
    /// mirrors whether one is held, so a request pays for no lock while
    /// none is (the common case).
    private let leases = Locked(LeaseBook())
    private let leaseHeld = Atomic<Bool>(false)
    /// Status pages asked for this turn, and each connection's snapshot
    /// (§11.2). Kept out of `Client`, which the loop copies per wake-up:
    /// two more arrays there cost every request retains and releases.
    private struct StatusWork {
        var asked: [(client: Int, sequence: UInt16, offset: UInt32)] = []
        var documents: [Int: [UInt8]] = [:]
    }
    private let statusWork = Locked(StatusWork())
    private let statusAsked = Atomic<Bool>(false)
    private let started = ContinuousClock.now

    /// SO_SNDBUF of each client socket (the kernel doubles it).
    static let kernelSendBuffer = 64 * 1024

    /// Opens the listeners. The daemon does not own `transport`: the caller
    /// closes it after `run` returns.
    public init(transport: any RadioTransport, listen addresses: [ListenAddress], options: Options = Options()) throws(ServeError) {
        self.transport = transport
        self.options = options
        map = Locked(SequenceMap(quarantine: options.quarantine))
        clientLimit = RadioDaemon.clientLimit(options.maxClients, logger: options.logger)
        var opened: [Listener] = []
        for address in addresses {
            do {
                opened.append(try Listener.open(address, allowRemote: options.allowRemote))
            } catch {
                for l in opened { RadioDaemon.close(l) }
                throw error
            }
        }
        listeners = opened
        do {
            wake = try WakeEvent()
        } catch {
            for l in opened { RadioDaemon.close(l) }
            throw .system("eventfd", error.rawValue)
        }
        identifyRadio()
    }

    deinit {
        radioInput.withLock { $0.buffer.deallocate() }
        wake.close()
    }

    /// What clients pass as --port, one per listener.
    public var urls: [String] { listeners.map(\.url) }

    public var statistics: Statistics { stats.withLock { $0 } }

    /// Clients connected now.
    public var clientCount: Int { registry.withLock { $0.all.count } }

    /// Ends `run`: from a signal handler's queue, or any thread.
    public func stop() {
        state.withLock { $0.stopping = true }
        wakeLoop()
        transport.interrupt()
    }

    private func wakeLoop() { wake.signal() }

    // MARK: Client loop

    private struct Client {
        let connection: Connection
        var decoder = FrameDecoder()
        var requests = 0
        /// The client shut down its sending side (EOF on read, as `nc -N`
        /// does): it is done asking, not gone. It gets the replies to what
        /// it sent, then the daemon closes the connection.
        var doneSending = false
        /// Since when the client has owed a complete frame: from its
        /// connection until its first frame, then from the first byte of
        /// each frame it has not finished; nil when it owes none.
        var owesFrameSince: ContinuousClock.Instant?
        var sentFrame = false
        /// Requests waiting for a place in this client's `radioShare`.
        var waiting: [Frame] = []
        var waitingStart = 0
        var waitingCount: Int { waiting.count - waitingStart }
        /// The client's last 16 requests sent to the radio: a hash of the
        /// command and its arguments, and the upstream number, to tell its
        /// retries (`Statistics.retries`).
        var recent = [(key: UInt64, upstream: UInt16)](repeating: (0, 0), count: 16)
        var recentNext = 0

        mutating func sent(_ key: UInt64, upstream: UInt16) {
            recent[recentNext] = (key, upstream)
            recentNext = (recentNext + 1) & 15
        }
    }

    /// FNV-1a over a request's type and payload: what a retry repeats
    /// (PROTOCOL.md §5: a retry is the same request with a new sequence number).
    static func requestKey(_ frame: Frame) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        h = (h ^ UInt64(frame.type)) &* 0x100_0000_01b3
        for b in frame.payload { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h | 1  // never 0, the empty slot's key
    }

    /// A request repeating one of the same client's that the radio has not
    /// answered yet: the client's retry of it.
    /// Per request on the client loop: no allocation, and the table's lock
    /// only when the content matches.
    private func isRetry(_ key: UInt64, from client: Client) -> Bool {
        for r in client.recent where r.key == key {
            if map.withLock({ $0.isInFlight(r.upstream, client: client.connection.id) }) { return true }
        }
        return false
    }

    /// Serves until `stop()`, or until the radio is gone for good (a port
    /// that does not reconnect). Returns nil after a clean stop.
    public func run() -> ServeError? {
        startThread(name: "radio-daemon-radio") { [self] in
            radioLoop()
            radioDone.signal()
        }

        var clients: [Int: Client] = [:]
        var nextID = 1
        // Out of descriptors: the listeners rest (not polled) until then,
        // so a full process does not spin on a listener it cannot serve.
        var listenersRestUntil: ContinuousClock.Instant?
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
        defer { buffer.deallocate() }
        var lastSweep = ContinuousClock.now
        var lastStateQuery = ContinuousClock.now
        // Identify again, once a second, while the radio has not answered
        // it (for the observer's labels and the reconnect check), 30 times.
        var identifyTries = 0
        if options.observer != nil && options.stateQueryInterval != nil { ask(.getState) }
        var fds: [pollfd] = []
        var ids: [Int] = []

        while !state.withLock({ $0.stopping }) {
            fds.removeAll(keepingCapacity: true)
            ids.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wake.descriptor.rawValue, events: Int16(POLLIN), revents: 0))
            if let until = listenersRestUntil, ContinuousClock.now >= until { listenersRestUntil = nil }
            let listen = listenersRestUntil == nil ? Int16(POLLIN) : 0
            for l in listeners { fds.append(pollfd(fd: l.fd, events: listen, revents: 0)) }
            for (id, c) in clients {
                // A client done sending reads as EOF forever: not polled for input.
                let events = (c.doneSending ? 0 : Int16(POLLIN)) | (c.connection.hasQueued ? Int16(POLLOUT) : 0)
                fds.append(pollfd(fd: c.connection.descriptor.rawValue, events: events, revents: 0))
                ids.append(id)
            }
            var ts = timespec(tv_sec: 0, tv_nsec: 250_000_000)
            if radio_ppoll(&fds, UInt(fds.count), &ts) < 0 && errno != EINTR {
                state.withLock { $0.failure = .system("poll", errno) }
                break
            }
            let woken = fds[0].revents != 0
            if woken { wake.drain() }
            let base = 1 + listeners.count
            for (i, id) in ids.enumerated() {
                let revents = fds[base + i].revents
                guard revents != 0, var client = clients[id] else { continue }
                var gone: String?
                if client.doneSending {
                    if revents & Int16(POLLHUP | POLLERR) != 0 { gone = "connection lost" }
                } else if revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
                    gone = read(&client, buffer: buffer)
                }
                if gone == nil, revents & Int16(POLLOUT) != 0 {
                    gone = client.connection.flush()
                }
                clients[id] = client
                if let gone { remove(id, from: &clients, reason: gone) }
            }
            // Status pages, now that every client's reads of this turn are in.
            if statusAsked.load(ordering: .relaxed) { answerStatus(clients) }
            // Requests waiting for their client's share of the radio: sent
            // as the radio's answers make room (the radio thread wakes this
            // loop for that, and the sweep below catches expiries).
            for (id, c) in clients where c.waitingCount > 0 {
                var client = c
                sendWaiting(&client)
                clients[id] = client
            }
            // Clients done sending go once their replies are out (or their
            // requests forgotten: `forgetAfter` bounds the wait).
            for (id, c) in clients where c.doneSending && !c.connection.hasQueued && c.waitingCount == 0 {
                if map.withLock({ $0.inFlight[id] == nil }) {
                    remove(id, from: &clients, reason: "closed its side; every reply delivered")
                }
            }
            // Clients found not keeping up: whoever marks one wakes this
            // loop, so the scan runs only then, not on every request.
            for (id, c) in clients where woken {
                if let why = c.connection.kickReason {
                    if case .notReading = why { stats.withLock { $0.slowClients += 1 } }
                    remove(id, from: &clients, reason: why.description, level: .warning)
                }
            }
            // New clients after the departures just handled, so a slot a
            // closed client held is free for them.
            for (i, l) in listeners.enumerated() where fds[1 + i].revents & Int16(POLLIN) != 0 {
                if !accept(on: l, into: &clients, nextID: &nextID) {
                    listenersRestUntil = ContinuousClock.now + RadioDaemon.descriptorBackoff
                }
            }
            let now = ContinuousClock.now
            if let every = options.stateQueryInterval, options.observer != nil,
               state.withLock({ s in defer { s.stateQueryDue = false }; return s.stateQueryDue }) || now - lastStateQuery >= every {
                lastStateQuery = now
                ask(.getState)
            }
            if now - lastSweep >= .seconds(1) {
                lastSweep = now
                // A lease ends within a second of its time (§11.1).
                if leaseHeld.load(ordering: .relaxed) { apply(leases.withLock { $0.expire(now: now) }) }
                if options.observer != nil, identifyTries < 30, !state.withLock({ $0.identified }) {
                    identifyTries += 1
                    ask(.identify)
                }
                let n = map.withLock { $0.expire(sentBefore: now - options.forgetAfter, now: now) }
                if n > 0 { stats.withLock { $0.expired += n } }
                let late = now - options.frameTimeout
                for (id, c) in clients where (c.owesFrameSince.map { $0 < late } ?? false) && !c.doneSending {
                    stats.withLock { $0.idleClients += 1 }
                    remove(id, from: &clients, reason: "no complete frame in \(options.frameTimeout)", level: .warning)
                }
            }
        }

        // Shut down: no new clients, what is queued goes out if the socket
        // takes it now, then every connection closes.
        for l in listeners { RadioDaemon.close(l) }
        for (id, c) in clients {
            _ = c.connection.flush()
            remove(id, from: &clients, reason: "daemon stopping", quiet: true)
        }
        stop()
        radioDone.wait()
        return state.withLock { $0.failure }
    }

    /// Descriptors kept for other than clients: stdio, the radio's port,
    /// listeners, the wake event, udev, and some slack.
    static let reservedDescriptors = 32

    /// `wanted`, or what the process's descriptor limit (RLIMIT_NOFILE)
    /// leaves room for, with a warning that says so.
    static func clientLimit(_ wanted: Int, logger: Logger) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max else { return wanted }
        let room = max(1, Int(clamping: limit.rlim_cur) - reservedDescriptors)
        guard wanted > room else { return wanted }
        logger.warning("""
            serving at most \(room) clients, not \(wanted): this process may open \(limit.rlim_cur) descriptors \
            (raise it with ulimit -n, or LimitNOFILE= in a systemd unit)
            """)
        return room
    }

    /// How long a request may wait for the radio's port to take it (§11).
    static let radioWriteLimit: Duration = .seconds(1)

    /// How long the listeners rest when the process is out of descriptors.
    static let descriptorBackoff: Duration = .milliseconds(100)

    /// Accepts what is waiting. Returns false when the process (or the
    /// system) is out of file descriptors: the caller rests the listeners.
    private func accept(on listener: Listener, into clients: inout [Int: Client], nextID: inout Int) -> Bool {
        while true {
            var address = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(listener.fd, $0, &length) }
            }
            if fd < 0 {
                let e = errno
                if e == EINTR || e == ECONNABORTED { continue }
                if e == EMFILE || e == ENFILE {
                    noteOutOfDescriptors(e, listener: listener, clients: clients.count)
                    return false
                }
                if e != EAGAIN { options.logger.error("accept on \(listener.url) failed: \(String(cString: strerror(e)))") }
                return true
            }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            // A fixed kernel send buffer (no autotuning up to megabytes), so
            // a client that stops reading fills its queue in seconds, and
            // the daemon's memory per client stays bounded.
            var sendBuffer = Int32(RadioDaemon.kernelSendBuffer)
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sendBuffer, socklen_t(MemoryLayout<Int32>.size))
            let peer: String
            if listener.unixPath != nil {
                let pid = radio_peer_pid(fd)
                peer = pid > 0 ? "\(listener.url) (pid \(pid))" : listener.url
            } else {
                var one: Int32 = 1
                _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                peer = SocketAddress(family: Int32(address.ss_family), storage: address, length: length).numeric
            }
            if clients.count >= clientLimit { reapClosed(&clients) }
            guard clients.count < clientLimit else {
                // Told why in the protocol (a Link frame), not a bare close.
                let n = clientLimit
                let why = "refused: the daemon already serves \(n) client\(n == 1 ? "" : "s"), the most it allows"
                let notice = Message.link(LinkNotice(isUp: false, reason: why)).frame(sequence: 0).wireBytes
                _ = notice.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
                Glibc.close(fd)
                stats.withLock { $0.clientsRefused += 1 }
                options.logger.warning("refused a client from \(peer): already serving \(clientLimit), the most allowed")
                continue
            }
            let id = nextID
            nextID += 1
            let connection = Connection(id: id, socket: FileDescriptor(rawValue: fd), peer: peer)
            clients[id] = Client(connection: connection, owesFrameSince: .now)
            registry.withLock { r in
                r.byID[id] = connection
                r.all.append(connection)
            }
            stats.withLock { $0.clientsAccepted += 1 }
            options.logger.info("client \(id) connected from \(peer)", metadata: ["client": "\(id)"])
            if let down = state.withLock({ $0.linkDown }) {
                if connection.deliver(Message.link(LinkNotice(isUp: false, reason: down)).frame(sequence: 0).wireBytes,
                                      limit: options.clientQueueBytes) { wakeLoop() }
            }
        }
    }

    /// One warning per `descriptorLogInterval` while accepts fail for want
    /// of descriptors, with how many failed since the last.
    private func noteOutOfDescriptors(_ e: Int32, listener: Listener, clients: Int) {
        let now = ContinuousClock.now
        let line = state.withLock { s -> Int? in
            s.descriptorFailures += 1
            if let last = s.descriptorLogAt, now - last < RadioDaemon.descriptorLogInterval { return nil }
            s.descriptorLogAt = now
            defer { s.descriptorFailures = 0 }
            return s.descriptorFailures
        }
        stats.withLock { $0.descriptorShortages += 1 }
        guard let failed = line else { return }
        options.logger.warning("""
            cannot accept on \(listener.url): \(String(cString: strerror(e))) with \(clients) clients \
            (\(failed) accept\(failed == 1 ? "" : "s") failed since the last such line); waiting for descriptors, \
            connections wait in the backlog meanwhile
            """)
    }

    static let descriptorLogInterval: Duration = .seconds(10)

    /// At the client limit: frees the slots of clients whose peer has
    /// closed (EOF waiting to be read) and that have nothing in flight.
    private func reapClosed(_ clients: inout [Int: Client]) {
        var byte: UInt8 = 0
        for (id, c) in clients {
            let n = recv(c.connection.descriptor.rawValue, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
            guard n == 0 || c.doneSending else { continue }
            if map.withLock({ $0.inFlight[id] == nil }) { remove(id, from: &clients, reason: "closed the connection") }
        }
    }

    /// Reads what the client sent and forwards its requests. Returns why
    /// the client must go, or nil.
    private func read(_ client: inout Client, buffer: UnsafeMutableRawBufferPointer) -> String? {
        var total = 0
        // Up to 256 KiB per turn, so one busy client cannot starve the rest.
        while total < 256 * 1024 {
            let n: Int
            do {
                switch try StreamSocket.receive(client.connection.descriptor, into: buffer) {
                case .bytes(let count): n = count
                case .wouldBlock: return nil
                case .endOfFile:
                    // Gone, or only done sending: which, the replies decide.
                    client.doneSending = true
                    client.connection.doneSending.store(true, ordering: .releasing)
                    return nil
                }
            } catch {
                return "connection lost (\(error.description))"
            }
            total += n
            var frames: [Frame] = []
            let before = client.decoder.counters.errors
            client.decoder.feed(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { event in
                if case .frame(let f) = event { frames.append(f) }
            }
            let errors = client.decoder.counters.errors - before
            if errors > 0 { stats.withLock { $0.clientDecodeErrors += errors } }
            if !frames.isEmpty {
                client.sentFrame = true
                client.owesFrameSince = client.decoder.bufferedCount > 0 ? .now : nil
            } else if client.decoder.bufferedCount > 0 {
                client.owesFrameSince = client.owesFrameSince ?? .now
            } else if client.sentFrame {
                client.owesFrameSince = nil
            }
            for frame in frames { admit(frame, into: &client) }
        }
        return nil
    }

    /// Takes a client's frame: sent on at once while the client has less
    /// than its `radioShare` at the radio and none waiting, else queued
    /// behind its others (within `maxInFlightPerClient`), else busy.
    private func admit(_ frame: Frame, into client: inout Client) {
        let connection = client.connection
        if FrameType.isRequest(frame.type) && frame.version == Frame.protocolVersion {
            if Command.isDaemonCommand(frame.type) {
                daemonRequest(frame, from: &client)
                return
            }
            if leaseHeld.load(ordering: .relaxed), Command(rawValue: frame.type).changesRadio,
               !leases.withLock({ $0.mayChange(connection.id) }) {
                refuse(frame, from: connection)
                return
            }
        }
        guard FrameType.isRequest(frame.type), frame.version == Frame.protocolVersion,
              state.withLock({ $0.linkDown }) == nil else {
            if forward(frame, from: connection) != nil { client.requests += 1 }
            return
        }
        let key = RadioDaemon.requestKey(frame)
        if isRetry(key, from: client) { stats.withLock { $0.retries += 1 } }
        let atRadio = map.withLock { $0.inFlight[connection.id, default: 0] }
        if client.waitingCount == 0 && atRadio < options.radioShare {
            if let upstream = forward(frame, from: connection) {
                client.requests += 1
                client.sent(key, upstream: upstream)
            }
        } else if client.waitingCount + atRadio < options.maxInFlightPerClient {
            client.waiting.append(frame)
            connection.hasWaiting.store(true, ordering: .releasing)
        } else {
            reply(to: connection, frame, status: .busy)
        }
    }

    // MARK: Lease and status (§11.1-11.2)

    /// A request the daemon answers itself: the lease's at once, in order
    /// with the client's other requests; Status after this turn's reads.
    private func daemonRequest(_ frame: Frame, from client: inout Client) {
        let connection = client.connection
        let request: DaemonRequest
        switch Result(catching: { () throws(MessageError) in try Message(frame: frame) }) {
        case .success(.request(.daemon(let d))):
            request = d
        case .failure(.unknownType):
            reply(to: connection, frame, status: .unknownCommand)
            return
        default:
            reply(to: connection, frame, status: .malformed)
            return
        }
        if case .status(let offset) = request {
            statusWork.withLock { $0.asked.append((connection.id, frame.sequence, offset)) }
            statusAsked.store(true, ordering: .relaxed)
            return
        }
        let effects = leases.withLock {
            $0.handle(request, from: connection.id, sequence: frame.sequence, peer: connection.peer, now: .now)
        }
        apply(effects)
        let answered = effects.contains { if case .answer(connection.id, frame.sequence, _) = $0 { true } else { false } }
        if case .lock(let l) = request, !answered {
            options.logger.info("client \(connection.id) (\(l.holder)) waits for the lease",
                                metadata: ["client": "\(connection.id)"])
        }
    }

    /// A changing request from a connection that does not hold the lease:
    /// the notice naming the holder, then `busy`, both with its number.
    private func refuse(_ frame: Frame, from connection: Connection) {
        stats.withLock { $0.leaseRefusals += 1 }
        if let notice = leases.withLock({ $0.refusal(now: .now) }) {
            _ = connection.deliver(Message.lease(notice).frame(sequence: frame.sequence).wireBytes,
                                   limit: options.clientQueueBytes)
        }
        reply(to: connection, frame, status: .busy)
    }

    /// Carries out what the lease book says: answers, notices, and a log
    /// line for each change of holder.
    private func apply(_ effects: [LeaseBook.Effect]) {
        leaseHeld.store(leases.withLock { $0.lease != nil }, ordering: .relaxed)
        var wake = false
        for effect in effects {
            switch effect {
            case .answer(let id, let sequence, let response):
                if case .ok(.daemon(.locked(_, _, false))) = response { stats.withLock { $0.leasesGranted += 1 } }
                if case .failure(_, .busy) = response { stats.withLock { $0.busyReplies += 1 } }
                guard let c = registry.withLock({ $0.byID[id] }) else { continue }
                if c.deliver(Message.response(response).frame(sequence: sequence).wireBytes, limit: options.clientQueueBytes) {
                    wake = true
                }
            case .notice(let id?, let sequence, let notice):
                guard let c = registry.withLock({ $0.byID[id] }) else { continue }
                if c.deliver(Message.lease(notice).frame(sequence: sequence).wireBytes, limit: options.clientQueueBytes) {
                    wake = true
                }
            case .notice(nil, _, let notice):
                logLease(notice)
                broadcast(Message.lease(notice).frame(sequence: 0).wireBytes)
            }
        }
        if wake { wakeLoop() }
    }

    private func logLease(_ n: LeaseNotice) {
        let who = "\(n.holder)" + (n.reason.isEmpty || n.event == .revoked ? "" : " (\(n.reason))")
        switch n.event {
        case .taken: options.logger.notice("lease taken by \(who) for \(n.leftSeconds) s")
        case .released: options.logger.notice("lease of \(who) released after \(n.heldSeconds) s")
        case .expired: options.logger.notice("lease of \(who) expired after \(n.heldSeconds) s")
        case .holderGone: options.logger.notice("lease of \(who) ended: its holder's connection closed")
        case .revoked: options.logger.warning("lease of \(n.holder) \(n.reason)")
        case .refused: break
        }
    }

    /// Answers the Status requests of this turn, each from its client's
    /// snapshot (offset 0 takes a new one).
    private func answerStatus(_ clients: [Int: Client]) {
        statusAsked.store(false, ordering: .relaxed)
        let asked = statusWork.withLock { w in defer { w.asked.removeAll() }; return w.asked }
        let now = ContinuousClock.now
        var fresh: [UInt8]?
        for (id, sequence, offset) in asked {
            guard let connection = clients[id]?.connection else { continue }
            stats.withLock { $0.statusRequests += 1 }
            if offset == 0 {
                if fresh == nil { fresh = statusDocument(clients, now: now) }
                statusWork.withLock { $0.documents[id] = fresh }
            }
            let document = statusWork.withLock { $0.documents[id] } ?? []
            let response: Response
            if offset > document.count {
                response = .failure(.status, .outOfRange)
            } else {
                let start = Int(offset), end = min(document.count, start + DaemonReply.maxStatusBytes)
                response = .ok(.daemon(.status(total: UInt32(document.count), bytes: Array(document[start..<end]))))
            }
            if connection.deliver(Message.response(response).frame(sequence: sequence).wireBytes,
                                  limit: options.clientQueueBytes) { wakeLoop() }
        }
    }

    private func statusDocument(_ clients: [Int: Client], now: ContinuousClock.Instant) -> [UInt8] {
        let s = state.withLock { $0 }
        let counters = statistics.named
        let lease = leases.withLock { $0.info(for: nil, now: now) }
        let holders = leases.withLock { $0.lease?.holders ?? [] }
        let waiting = Set(leases.withLock { $0.waiters.map(\.connection) })
        let inFlight = map.withLock { $0.inFlight }
        var listed: [DaemonStatus.Client] = []
        for id in clients.keys.sorted().prefix(DaemonStatus.maxClientsListed) {
            guard let c = clients[id] else { continue }
            listed.append(DaemonStatus.Client(
                id: id, peer: c.connection.peer, connected_s: RadioDaemon.seconds(c.connection.since.duration(to: now)),
                requests: c.requests, in_flight: inFlight[id, default: 0], queued: c.waitingCount,
                queued_bytes: c.connection.queuedBytes, holds_lease: holders.contains(id),
                waits_for_lease: waiting.contains(id)))
        }
        let document = DaemonStatus(
            version: options.version, uptime_s: RadioDaemon.seconds(started.duration(to: now)),
            radio_port: transport.name, listening: urls,
            radio: s.identity.map { .init(model: $0.model, serial_number: $0.serialNumber, firmware_version: $0.firmwareVersion) },
            link: .init(up: s.linkDown == nil, reason: s.linkDown,
                        down_s: s.linkDownSince.map { RadioDaemon.seconds($0.duration(to: now)) }),
            lease: lease.map { .init(holder: $0.holder, reason: $0.reason, held_s: Int($0.heldSeconds),
                                     left_s: Int($0.leftSeconds), keep: $0.keep, waiting: Int($0.waiting)) },
            clients_connected: clients.count, clients: listed,
            counters: Dictionary(uniqueKeysWithValues: counters.map { ($0.name, $0.value) }))
        return document.encoded()
    }

    /// Seconds to the millisecond, for the status document.
    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000) / 1000
    }

    /// Sends a client's waiting requests while its share at the radio has room.
    private func sendWaiting(_ client: inout Client) {
        while client.waitingCount > 0 {
            let atRadio = map.withLock { $0.inFlight[client.connection.id, default: 0] }
            guard atRadio < options.radioShare else { return }
            let frame = client.waiting[client.waitingStart]
            client.waitingStart += 1
            if let upstream = forward(frame, from: client.connection) {
                client.requests += 1
                client.sent(RadioDaemon.requestKey(frame), upstream: upstream)
            }
        }
        client.waiting.removeAll(keepingCapacity: true)
        client.waitingStart = 0
        client.connection.hasWaiting.store(false, ordering: .releasing)
    }

    /// Sends one client frame on to the radio, or answers it here. Returns
    /// its upstream number when it went to the radio.
    private func forward(_ frame: Frame, from client: Connection) -> UInt16? {
        guard FrameType.isRequest(frame.type) else {
            stats.withLock { $0.ignoredFrames += 1 }
            return nil
        }
        guard frame.version == Frame.protocolVersion else {
            // As a version-1 radio does (§10): it speaks version 1 only.
            reply(to: client, frame, status: .unsupportedVersion)
            return nil
        }
        if state.withLock({ $0.linkDown }) != nil {
            reply(to: client, frame, status: .busy)
            return nil
        }
        let now = ContinuousClock.now
        let limit = options.maxInFlightPerClient
        let upstream: UInt16? = map.withLock { m in
            guard m.inFlight[client.id, default: 0] < limit else { return nil }
            return m.allocate(.init(client: client.id, clientSequence: frame.sequence, command: frame.type, sent: now))
        }
        guard let upstream else {
            reply(to: client, frame, status: .busy)
            return nil
        }
        var outgoing = frame
        outgoing.sequence = upstream
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Frame.maxWireSize)
        outgoing.encode(into: &bytes)
        let wedged = state.withLock { $0.radioWedged }
        do throws(RadioError) {
            try transport.send(bytes, deadline: wedged ? now : now + RadioDaemon.radioWriteLimit)
            if wedged {
                state.withLock { $0.radioWedged = false }
                options.logger.notice("the radio's port takes requests again")
            }
        } catch {
            if case .writeTimeout = error, !wedged {
                state.withLock { $0.radioWedged = true }
                options.logger.error("""
                    the radio's port took no request for \(RadioDaemon.radioWriteLimit) (radio stopped, or flow \
                    control held off): answering busy until it takes one at once
                    """)
            }
            map.withLock { $0.cancel(upstream) }
            reply(to: client, frame, status: .busy)
            return nil
        }
        stats.withLock { $0.requests += 1 }
        // The in-memory radio has answered already: deliver it from here.
        if transport.answersInline { try? pumpRadio() }
        return upstream
    }

    /// The daemon's own request (GetState, Identify: for the observer),
    /// numbered from the same table as the clients' requests under the
    /// reserved client id 0; its answer goes to the observer only. Skipped
    /// while the radio is away or its port is wedged, and when no number is free.
    private func ask(_ request: Request) {
        guard state.withLock({ $0.linkDown == nil && !$0.radioWedged }) else { return }
        let now = ContinuousClock.now
        let entry = SequenceMap.Entry(client: RadioDaemon.internalClient, clientSequence: 0,
                                      command: request.command.rawValue, sent: now)
        guard let upstream = map.withLock({ $0.allocate(entry) }) else { return }
        do throws(RadioError) {
            try transport.send(Message.request(request).frame(sequence: upstream).wireBytes,
                               deadline: now + RadioDaemon.radioWriteLimit)
        } catch {
            map.withLock { $0.cancel(upstream) }
            return
        }
        stats.withLock { $0.stateQueries += 1 }
        if transport.answersInline { try? pumpRadio() }
    }

    /// The client id of the daemon's own requests (connections count from 1).
    static let internalClient = 0

    /// Answers a request here, with a status and the client's own sequence number.
    private func reply(to client: Connection, _ request: Frame, status: Status) {
        if status == .busy { stats.withLock { $0.busyReplies += 1 } }
        let frame = Frame(type: request.type | FrameType.responseFlag, sequence: request.sequence,
                          payload: [status.rawValue])
        if client.deliver(frame.wireBytes, limit: options.clientQueueBytes) { wakeLoop() }
    }

    private func remove(_ id: Int, from clients: inout [Int: Client], reason: String, level: Logger.Level = .info,
                        quiet: Bool = false) {
        guard let client = clients.removeValue(forKey: id) else { return }
        registry.withLock { r in
            r.byID[id] = nil
            r.all.removeAll { $0.id == id }
        }
        client.connection.close()
        if leaseHeld.load(ordering: .relaxed) { apply(leases.withLock { $0.closed(id, now: .now) }) }
        statusWork.withLock { $0.documents[id] = nil }
        if !quiet {
            options.logger.log(level: level, "client \(id) (\(client.connection.peer)) disconnected: \(reason)",
                               metadata: ["client": "\(id)", "requests": "\(client.requests)"])
        }
    }

    private static func close(_ listener: Listener) {
        Glibc.close(listener.fd)
        if let path = listener.unixPath { unlink(path) }
    }

    // MARK: Radio thread

    /// Asks the radio who it is, for the log and so that a reconnect by
    /// path takes only this radio again (`ReconnectingTransport`).
    private func identifyRadio() {
        do throws(RadioError) {
            let id = try IdentityProbe.identify(transport, timeout: .seconds(2))
            identified(id)
        } catch {
            options.logger.warning("""
                the radio on \(transport.name) did not answer Identify (\(error)); serving it \
                anyway, but a reconnect will not check that it is the same radio
                """)
        }
    }

    private func identified(_ id: Identity) {
        options.logger.notice("radio: \(id.model), serial \(id.serialNumber), firmware \(id.firmwareVersion)")
        transport.expectSerialNumber(id.serialNumber)
        state.withLock { s in
            s.identified = true
            s.identity = id
        }
        options.observer?.daemonEvent(.identified(id))
    }

    private func radioLoop() {
        // The reason last logged for the radio staying away; the loss itself
        // is logged by linkLost.
        var awayLogged: RadioError?
        while !state.withLock({ $0.stopping }) {
            do throws(RadioError) {
                try transport.waitForInput(timeout: .milliseconds(250))
                try pumpRadio()
            } catch {
                if case .disconnected(let why) = error, transport.reconnects {
                    linkLost(why)
                    awayLogged = error
                    continue
                }
                options.logger.error("radio \(transport.name) is gone: \(error); stopping")
                state.withLock { s in
                    s.failure = .unavailable("radio \(transport.name) is gone: \(error)")
                    s.stopping = true
                }
                wakeLoop()
                return
            }
            guard state.withLock({ $0.linkDown }) != nil else { continue }
            if let why = transport.awayReason {
                // Say so when the reason the radio stays away changes (gone,
                // a different radio at its path, ...), once per change.
                if why != awayLogged { options.logger.warning("radio still away: \(why)") }
                awayLogged = why
            } else {
                awayLogged = nil
                if !transport.isAway { linkBack() }
            }
        }
    }

    /// Reads what the radio sent and passes every frame on. Held by one
    /// thread at a time: the radio thread, or the client loop when the
    /// radio answers inline (`loop://`).
    private func pumpRadio() throws(RadioError) {
        try radioInput.withLock { (r: inout RadioInput) throws(RadioError) in
            while true {
                let n = try transport.read(into: r.buffer)
                if n == 0 { return }
                let before = r.decoder.counters.errors
                r.decoder.feed(UnsafeRawBufferPointer(rebasing: r.buffer[0..<n]),
                               withWireBytes: { event, wire in fromRadio(event, wire: wire) })
                let errors = r.decoder.counters.errors - before
                if errors > 0 {
                    let c = r.decoder.counters
                    stats.withLock { s in
                        s.radioDecodeErrors += errors
                        s.radioCRCErrors = c.crcErrors
                        s.radioFramingErrors = c.cobsErrors + c.shortFrames + c.oversized
                        s.radioDiscardedBytes = c.discardedBytes
                    }
                }
            }
        }
    }

    private func fromRadio(_ event: FrameDecoder.Event, wire: ArraySlice<UInt8>) {
        guard case .frame(let frame) = event else { return }
        // Another version's frame is undecodable (§8): it must not take the
        // entry that the valid reply after it is for.
        guard frame.version == Frame.protocolVersion else {
            stats.withLock { $0.ignoredFrames += 1 }
            return
        }
        if FrameType.isResponse(frame.type) {
            let entry = map.withLock { $0.take(frame.sequence, command: frame.type & ~FrameType.responseFlag) }
            if let entry, let observer = options.observer {
                if entry.client == RadioDaemon.internalClient, entry.command == Command.identify.rawValue,
                   case .response(.ok(.identity(let id)))? = try? Message(frame: frame) {
                    identified(id)
                }
                observer.daemonEvent(.response(frame, command: entry.command, roundTrip: entry.sent.duration(to: .now)))
                if entry.client == RadioDaemon.internalClient { return }
            }
            guard let entry, let client = registry.withLock({ $0.byID[entry.client] }) else {
                stats.withLock { $0.unmatched += 1 }
                return
            }
            var back = frame
            back.sequence = entry.clientSequence
            stats.withLock { $0.responses += 1 }
            if client.deliver(back.wireBytes, limit: options.clientQueueBytes)
                || client.doneSending.load(ordering: .acquiring)
                || client.hasWaiting.load(ordering: .acquiring) { wakeLoop() }
        } else if frame.type == FrameType.link || frame.type == FrameType.lease {
            // The daemon's own notices (§11): from the radio they would
            // make every host believe a link loss or a lease that is not so.
            stats.withLock { $0.ignoredFrames += 1 }
        } else if FrameType.isTelemetry(frame.type) {
            // Unsolicited: to everyone, as it came (no re-encoding).
            var bytes: [UInt8] = []
            bytes.reserveCapacity(wire.count + 1)
            bytes.append(contentsOf: wire)
            bytes.append(Frame.delimiter)
            stats.withLock { $0.telemetryFrames += 1 }
            options.observer?.daemonEvent(.telemetry(frame))
            let clients = broadcast(bytes)
            stats.withLock { $0.telemetryDeliveries += clients }
        }
    }

    @discardableResult
    private func broadcast(_ bytes: [UInt8]) -> Int {
        let all = registry.withLock { $0.all }
        var wake = false
        for client in all where client.deliver(bytes, limit: options.clientQueueBytes) { wake = true }
        if wake { wakeLoop() }
        return all.count
    }

    private func linkLost(_ why: String) {
        state.withLock { s in
            s.linkDown = why
            s.linkDownSince = .now
        }
        stats.withLock { $0.outages += 1 }
        options.observer?.daemonEvent(.linkLost)
        let dropped = map.withLock { $0.removeAll() }
        radioInput.withLock { $0.decoder = FrameDecoder() }
        options.logger.error("""
            radio link lost: \(why); \(dropped) request\(dropped == 1 ? "" : "s") in flight failed; \
            reconnecting, clients stay connected
            """)
        broadcast(Message.link(LinkNotice(isUp: false, reason: why)).frame(sequence: 0).wireBytes)
    }

    private func linkBack() {
        let since = state.withLock { s -> ContinuousClock.Instant? in
            defer { s.linkDown = nil; s.linkDownSince = nil }
            return s.linkDownSince
        }
        let ms = since.map { Int(($0.duration(to: .now) / .milliseconds(1)).rounded()) } ?? 0
        options.logger.notice("radio link back after \(ms) ms")
        stats.withLock { $0.linkBacks += 1 }
        options.observer?.daemonEvent(.linkBack)
        state.withLock { $0.stateQueryDue = true }
        wakeLoop()
        broadcast(Message.link(LinkNotice(isUp: true)).frame(sequence: 0).wireBytes)
    }
}
