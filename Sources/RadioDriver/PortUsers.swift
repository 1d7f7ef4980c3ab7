#if canImport(Glibc)
import Glibc
#endif
import RadioIO

/// A process that has a tty open, or holds a UUCP lock file for it.
public struct PortHolder: Hashable, Sendable, Codable, CustomStringConvertible {
    public let pid: Int32
    /// The process's command name (/proc/PID/comm), nil when unreadable.
    public let command: String?
    /// How it holds the port: "open" (a descriptor on it) or "lock file".
    public let how: String

    public init(pid: Int32, command: String?, how: String) {
        self.pid = pid
        self.command = command
        self.how = how
    }

    public var description: String {
        "pid \(pid)" + (command.map { " (\($0))" } ?? "") + (how == "open" ? "" : " by \(how)")
    }
}

/// Who else is using a tty, found without opening it: opening a tty raises
/// DTR and RTS (an Arduino resets) and a second `tcsetattr` would change
/// the line under its owner, so a probe asks this first.
///
/// It reads /proc/PID/fd of every process it may (all of them as root; a
/// user's own otherwise, as fuser(1) does) and the UUCP lock files that
/// minicom, cu and picocom leave in /run/lock. A process holding the
/// *master* of a pty is the device behind that pty (a simulator, an
/// emulator, umockdev), not a competing user, and is not counted. Ports
/// held by processes it cannot see are still caught by the `flock` and
/// `TIOCEXCL` a real open meets.
public enum PortUsers {
    /// The holders of each path (a symlink such as /dev/serial/by-id/… is
    /// followed), other than this process; a path nobody holds maps to [].
    public static func holders(of paths: [String]) -> [String: [PortHolder]] {
        // The kernel's name for each port, as /proc/PID/fd shows it.
        var byTarget: [String: [String]] = [:]
        for path in paths { byTarget[resolved(path), default: []].append(path) }
        var found: [String: Set<PortHolder>] = [:]
        // pty index → pids holding that pty's master.
        var masters: [Int: Set<Int32>] = [:]
        let me = getpid()
        ProcessTable.forEachProcess { pid in
            guard pid != me else { return }
            ProcessTable.forEachDevice(of: pid) { fd, target in
                if target == "/dev/ptmx" || target == "/dev/pts/ptmx" {
                    if let index = ptyIndex(pid: pid, fd: fd) { masters[index, default: []].insert(pid) }
                } else if byTarget[target] != nil {
                    found[target, default: []].insert(PortHolder(pid: pid, command: ProcessTable.command(of: pid), how: "open"))
                }
            }
        }
        for target in byTarget.keys {
            if let holder = lockFileHolder(for: target), holder.pid != me,
               !(found[target]?.contains { $0.pid == holder.pid } ?? false) {
                found[target, default: []].insert(holder)
            }
        }
        var result: [String: [PortHolder]] = [:]
        for (target, originals) in byTarget {
            var holders = found[target] ?? []
            if let index = slaveIndex(target), let devices = masters[index] {
                holders = holders.filter { !devices.contains($0.pid) }
            }
            let sorted = holders.sorted { $0.pid < $1.pid }
            for path in originals { result[path] = sorted }
        }
        return result
    }

    public static func holders(of path: String) -> [PortHolder] { holders(of: [path])[path] ?? [] }

    /// `path` with the symlinks of its last component followed (as
    /// /dev/serial/by-id/... and /dev/radio/... are), by `readlink`: not
    /// `realpath`, whose wrapper in umockdev's preload library corrupts
    /// the heap, and which the tests run under. Itself when it is no link.
    public static func resolved(_ path: String) -> String {
        var current = path
        for _ in 0..<40 {
            guard let target = Paths.readLink(current) else { return current }
            current = target.hasPrefix("/") ? normalized(target) : normalized(directory(of: current) + "/" + target)
        }
        return current
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// An absolute path without `.`, `..` and doubled slashes.
    static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            if part == "." { continue }
            if part == ".." { _ = parts.popLast(); continue }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// N for /dev/pts/N.
    static func slaveIndex(_ path: String) -> Int? {
        guard path.hasPrefix("/dev/pts/") else { return nil }
        return Int(path.dropFirst("/dev/pts/".count))
    }

    /// The pty number behind a /dev/ptmx descriptor (its fdinfo's tty-index).
    static func ptyIndex(pid: Int32, fd: String) -> Int? {
        guard let text = ProcessTable.readSmallFile("/proc/\(pid)/fdinfo/\(fd)") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("tty-index:") {
            return Int(line.dropFirst("tty-index:".count).trimming(" \t"))
        }
        return nil
    }

    /// A live process named in /run/lock/LCK..NAME (or /var/lock): ASCII
    /// (HDB style, as minicom and lockdev write) or a binary int. A lock
    /// whose process is gone is stale and ignored.
    static func lockFileHolder(for target: String) -> PortHolder? {
        guard let name = target.split(separator: "/").last else { return nil }
        for dir in ["/run/lock", "/var/lock"] {
            let path = "\(dir)/LCK..\(name)"
            guard let bytes = ProcessTable.readSmallBytes(path), !bytes.isEmpty else { continue }
            var pid: Int32?
            if let text = String(validating: bytes, as: UTF8.self), let n = Int32(text.trimming(" \t\n\0")) {
                pid = n
            } else if bytes.count == 4 {
                pid = bytes.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
            }
            guard let pid, pid > 0, kill(pid, 0) == 0 || errno == EPERM else { continue }
            return PortHolder(pid: pid, command: ProcessTable.command(of: pid), how: "lock file \(path)")
        }
        return nil
    }
}

extension StringProtocol {
    /// Without leading and trailing characters from `set`.
    func trimming(_ set: String) -> Substring {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return s
    }
}
