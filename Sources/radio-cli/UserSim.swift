#if canImport(Glibc)
import Glibc
#endif
import CRadioSystem
import RadioDriver
import RadioIO
import SystemPackage

/// `user-sim`, radio-cli's default port: this user's simulator, a
/// `radio-sim --user` behind a pty, started on first use and reused by
/// every later command, so that settings stick between commands as they do
/// on hardware. It stops after 30 minutes unused, or with `radio-sim --stop`.
/// (`sim` is the simulator inside the process, fresh each time, for tests.)
struct UserSimScheme: PortScheme {
    static let name = "user-sim"
    static let options = [String]()
    static let usage = "user-sim (this user's simulator, kept running between commands)"
    let settings: SerialSettings

    init(body: String, query: inout PortQuery, settings: SerialSettings) throws(RadioError) {
        try PortQuery.expectEmpty(body, scheme: UserSimScheme.name, text: query.text)
        self.settings = settings
    }

    func open(timeout: Duration) throws(RadioError) -> any RadioTransport {
        let files = UserSimulatorFiles.forThisUser
        try UserSimScheme.ensureRunning(files, within: max(timeout, .seconds(10)))
        var query = PortQuery()
        return try SerialScheme(body: files.link, query: &query, settings: settings).open(timeout: timeout)
    }

    var baud: Int? { settings.baud }

    /// Starts the simulator unless one runs, and waits for its link. Under
    /// `start.lock`, so that commands started together start one.
    static func ensureRunning(_ files: UserSimulatorFiles, within limit: Duration) throws(RadioError) {
        if files.isRunning && files.device != nil { return }
        do {
            try files.prepare()
        } catch {
            throw .invalidPort("the user's simulator: \(error.description)")
        }
        let deadline = ContinuousClock.now + limit
        var startLock: Int32?
        while startLock == nil {
            do {
                startLock = try UserSimulatorFiles.tryLock(files.startLock)
            } catch {
                throw .invalidPort("the user's simulator: \(error.description)")
            }
            if startLock == nil {
                guard ContinuousClock.now < deadline else { throw .connectTimeout("the user's simulator (\(files.startLock) stays locked)") }
                usleep(10_000)
            }
        }
        defer { if let startLock { close(startLock) } }
        if files.isRunning && files.device != nil { return }

        let program = radioSimPath()
        let log = Glibc.open(files.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        defer { if log >= 0 { close(log) } }
        var pid: Int32 = 0
        let rc = withCStrings([program, "--user"]) { argv in radio_spawn(program, argv, -1, log, 1, &pid) }
        guard rc == 0 else {
            throw .system("starting \(program), the user's simulator (install radio-sim beside radio-cli, or give --port)",
                          Errno(rawValue: rc))
        }
        while !(files.isRunning && files.device != nil) {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                let why = ProcessTable.readSmallFile(files.log).flatMap { $0.split(separator: "\n").last.map(String.init) }
                throw .disconnected("the user's simulator (\(program)) exited at start" + (why.map { ": \($0)" } ?? ""))
            }
            guard ContinuousClock.now < deadline else {
                kill(pid, SIGTERM)
                throw .connectTimeout("the user's simulator (\(program), pid \(pid))")
            }
            usleep(5_000)
        }
        Console.error("radio-cli: started this user's simulator (radio-sim pid \(pid)) on \(files.link): settings now stick between commands; "
             + "'radio-sim --stop' stops it, and it stops by itself after 30 minutes unused\n")
    }

    /// radio-sim from the directory radio-cli runs from (as installed, and
    /// in .build), else from $PATH.
    static func radioSimPath() -> String {
        if let me = Paths.readLink("/proc/self/exe"), let slash = me.lastIndex(of: "/") {
            let beside = String(me[..<slash]) + "/radio-sim"
            if access(beside, X_OK) == 0 { return beside }
        }
        return "radio-sim"
    }

}
