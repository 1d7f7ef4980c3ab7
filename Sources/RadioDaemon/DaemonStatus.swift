import FoundationEssentials

/// The status document a sharing daemon serves in pages (Status, PROTOCOL.md
/// §11.2): JSON, keys in snake_case as in every radio-cli `--json` output.
/// `radio-cli status --json` prints it as it came, with the port added.
public struct DaemonStatus: Codable, Sendable, Equatable {
    public struct Radio: Codable, Sendable, Equatable {
        public var model: String
        public var serial_number: String
        public var firmware_version: String
    }

    public struct Link: Codable, Sendable, Equatable {
        public var up: Bool
        /// While down: why, and for how long.
        public var reason: String?
        public var down_s: Double?
    }

    public struct Lease: Codable, Sendable, Equatable {
        public var holder: String
        public var reason: String
        public var held_s: Int
        public var left_s: Int
        public var keep: Bool
        public var waiting: Int
    }

    public struct Client: Codable, Sendable, Equatable {
        public var id: Int
        public var peer: String
        public var connected_s: Double
        /// Requests it sent to the radio (answered by the daemon not counted).
        public var requests: Int
        /// At the radio now, and waiting in the daemon for its share.
        public var in_flight: Int
        public var queued: Int
        /// Bytes waiting to go to it.
        public var queued_bytes: Int
        public var holds_lease: Bool
        public var waits_for_lease: Bool
    }

    /// The daemon's version line (radio-cli's `--version`).
    public var version: String
    public var uptime_s: Double
    /// The radio's port, as the daemon opened it.
    public var radio_port: String
    public var listening: [String]
    /// nil until the radio has answered Identify.
    public var radio: Radio?
    public var link: Link
    public var lease: Lease?
    public var clients_connected: Int
    /// The first `DaemonStatus.maxClientsListed` clients, by id.
    public var clients: [Client]
    /// The counters SIGUSR1 logs, by the same names.
    public var counters: [String: Int]

    public static let maxClientsListed = 200

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { Array($0) } ?? Array("{}".utf8)
    }

    public init(bytes: [UInt8]) throws {
        self = try JSONDecoder().decode(DaemonStatus.self, from: Data(bytes))
    }

    public init(version: String, uptime_s: Double, radio_port: String, listening: [String], radio: Radio?, link: Link,
                lease: Lease?, clients_connected: Int, clients: [Client], counters: [String: Int]) {
        self.version = version
        self.uptime_s = uptime_s
        self.radio_port = radio_port
        self.listening = listening
        self.radio = radio
        self.link = link
        self.lease = lease
        self.clients_connected = clients_connected
        self.clients = clients
        self.counters = counters
    }
}

extension RadioDaemon.Statistics {
    /// Every counter with its name: the SIGUSR1 line (`name=value`, with
    /// dashes) and the status document (`counters`, with underscores).
    public var named: [(name: String, value: Int)] {
        [("clients", clientsAccepted), ("refused", clientsRefused), ("requests", requests), ("responses", responses),
         ("unmatched", unmatched), ("busy", busyReplies), ("expired", expired), ("telemetry", telemetryFrames),
         ("telemetry_deliveries", telemetryDeliveries), ("retries", retries), ("slow_clients", slowClients),
         ("idle_clients", idleClients), ("fd_shortages", descriptorShortages), ("outages", outages),
         ("link_backs", linkBacks), ("client_decode_errors", clientDecodeErrors),
         ("radio_decode_errors", radioDecodeErrors), ("radio_crc_errors", radioCRCErrors),
         ("radio_framing_errors", radioFramingErrors), ("radio_discarded_bytes", radioDiscardedBytes),
         ("ignored_frames", ignoredFrames), ("state_queries", stateQueries), ("leases_granted", leasesGranted),
         ("lease_refusals", leaseRefusals), ("status_pages", statusRequests)]
    }
}
