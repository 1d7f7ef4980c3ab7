#if canImport(Glibc)
import Glibc
#endif
public import Logging

/// A swift-log handler that writes one line per event to stderr, whole
/// (one `write`, so lines from threads never interleave):
///
///     2026-12-02T16:13:20.123Z serve: client 3 connected from 127.0.0.1:40122
///     2026-12-02T16:13:21.456Z serve: warning: client 3 disconnected: not reading ... client=3
///
/// Levels below `notice` carry no tag; metadata follows as key=value pairs.
public struct LineLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var line = "\(LineLogHandler.timestamp()) \(label): "
        if event.level >= .warning { line += "\(event.level): " }
        line += event.message.description
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in all.keys.sorted() { line += " \(key)=\(all[key].map { "\($0)" } ?? "")" }
        line += "\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { b in
            var offset = 0
            while offset < b.count {
                let n = write(2, b.baseAddress! + offset, b.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    static func timestamp() -> String { WallClock.iso8601() }
}
