#if canImport(Glibc)
import Glibc
#endif

/// What /proc says about other processes: which exist, which devices each
/// has open, and their names. Read without privileges, a user sees their
/// own processes (root sees all), as fuser(1) does.
public enum ProcessTable {
    /// Calls `body` with every process id in /proc.
    public static func forEachProcess(_ body: (Int32) -> Void) {
        Paths.forEachEntry(in: "/proc") { name in
            if let pid = Int32(name) { body(pid) }
        }
    }

    /// Each open descriptor of `pid` that is a device node, with what it
    /// points at; nothing for a process this user may not inspect, or one
    /// that just ended. Sockets, pipes and files are skipped cheaply.
    public static func forEachDevice(of pid: Int32, _ body: (_ fd: String, _ target: String) -> Void) {
        let base = "/proc/\(pid)/fd"
        Paths.forEachEntry(in: base) { name in
            guard Int(name) != nil, let target = Paths.readLink("\(base)/\(name)"), target.hasPrefix("/dev/") else { return }
            body(name, target)
        }
    }

    /// True when a process other than this one has the device `target`
    /// (as /proc shows it: /dev/pts/3, not a link to it) open.
    public static func isOpenElsewhere(_ target: String) -> Bool {
        let me = getpid()
        var found = false
        forEachProcess { pid in
            guard !found, pid != me else { return }
            forEachDevice(of: pid) { _, t in if t == target { found = true } }
        }
        return found
    }

    /// The process's command name (/proc/PID/comm), nil when unreadable.
    public static func command(of pid: Int32) -> String? {
        readSmallFile("/proc/\(pid)/comm").map { String($0.split(separator: "\n").first ?? "") }
    }

    /// Up to 512 bytes of a small file (/proc entries, lock and pid files).
    public static func readSmallFile(_ path: String) -> String? {
        readSmallBytes(path).map { String(decoding: $0, as: UTF8.self) }
    }

    public static func readSmallBytes(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 512)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return Array(bytes[0..<n])
    }
}
