#if canImport(Glibc)
import Glibc
#endif

/// The files of the per-user simulator: the `radio-sim --user` that
/// radio-cli starts on first use (its default port, `user-sim`) and reuses,
/// so that settings stick between commands as they do on hardware.
///
/// They live in `$XDG_RUNTIME_DIR/radio` (systemd's per-user tmpfs, gone
/// at logout), or `/tmp/radio-UID` where that is unset: a directory this
/// user owns, mode 0700.
///
/// - `sim`: a symlink to the simulator's pty (/dev/pts/N), the port to open;
/// - `sim.lock`: locked (`flock`) by the running simulator for its whole
///   life, so a crashed one never looks alive;
/// - `sim.pid`: its process id, for `radio-sim --stop`;
/// - `start.lock`: held while a radio-cli checks for and starts one, so two
///   commands started at once start one simulator;
/// - `sim.log`: its stderr.
public struct UserSimulatorFiles: Sendable {
    public let directory: String
    public var link: String { directory + "/sim" }
    public var lock: String { directory + "/sim.lock" }
    public var pidFile: String { directory + "/sim.pid" }
    public var startLock: String { directory + "/start.lock" }
    public var log: String { directory + "/sim.log" }

    public init(directory: String) { self.directory = directory }

    /// From `$XDG_RUNTIME_DIR`, else /tmp/radio-UID.
    public static var forThisUser: UserSimulatorFiles {
        if let runtime = getenv("XDG_RUNTIME_DIR").map({ String(cString: $0) }), runtime.hasPrefix("/") {
            return UserSimulatorFiles(directory: runtime + "/radio")
        }
        return UserSimulatorFiles(directory: "/tmp/radio-\(getuid())")
    }

    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Creates the directory (mode 0700) if it is missing, and checks that
    /// it is a directory of this user's that nobody else may write, not a
    /// symlink someone left in /tmp.
    public func prepare() throws(Problem) {
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw Problem(description: "cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard lstat(directory, &info) == 0 else {
            throw Problem(description: "cannot read \(directory): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw Problem(description: "\(directory) is not a directory") }
        guard info.st_uid == getuid() else { throw Problem(description: "\(directory) belongs to another user") }
        guard info.st_mode & 0o022 == 0 else {
            throw Problem(description: "\(directory) may be written by others (mode \(String(info.st_mode & 0o777, radix: 8)))")
        }
    }

    /// Takes `path`'s lock without waiting: the open descriptor that holds
    /// it (close it to let go), or nil when another process holds it.
    public static func tryLock(_ path: String, exclusive: Bool = true) throws(Problem) -> Int32? {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw Problem(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            close(fd)
            return nil
        }
        return fd
    }

    /// True while a simulator runs: someone holds `sim.lock`.
    public var isRunning: Bool {
        let fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_SH | LOCK_NB) != 0
    }

    /// The process id the simulator wrote, nil when there is none.
    public var recordedPID: Int32? {
        ProcessTable.readSmallFile(pidFile).flatMap { Int32($0.split(separator: "\n").first ?? "") }
    }

    /// The tty the link points at, nil when there is no link.
    public var device: String? { Paths.readLink(link) }
}
