#if canImport(Glibc)
import Glibc
#endif
import CRadioSystem
import Dispatch
import RadioIO
import RadioProtocol
import Synchronization
public import SystemPackage

/// A radio served on a pty by this process: the Swift simulator
/// (`PtySimulator`) or the firmware in QEMU (`FirmwareEmulator`).
public protocol PtyServedRadio: Sendable {
    /// The path a driver opens, as it would `/dev/ttyUSB0`.
    var slavePath: String { get }
    /// Stops serving and closes the pty; a client then reads EOF/EIO.
    func stop()
}

extension PtySimulator: PtyServedRadio {}
extension FirmwareEmulator: PtyServedRadio {}

/// Why the emulated firmware did not start.
public enum FirmwareEmulatorError: Error, Equatable, Sendable, CustomStringConvertible {
    case imageNotFound(String)
    case notAnELFImage(String)
    case emulatorNotFound(String)
    case cannotStart(String, Errno)
    /// QEMU exited during start-up; its last line of stderr.
    case emulatorExited(status: Int32, message: String)
    /// The image booted but did not answer a Ping in time: not a radio image.
    case noAnswer(seconds: Double)

    public var description: String {
        switch self {
        case .imageNotFound(let path): "no firmware image at \(path) (make firmware builds .build/firmware/radio-fw.elf)"
        case .notAnELFImage(let path): "\(path) is not an ELF image (make firmware builds .build/firmware/radio-fw.elf)"
        case .emulatorNotFound(let qemu): "\(qemu) not found (Debian: apt-get install qemu-system-arm)"
        case .cannotStart(let what, let errno): "cannot start the emulator: \(what): \(errno)"
        case .emulatorExited(let status, let message):
            "the emulator exited (status \(status)) while starting" + (message.isEmpty ? "" : ": \(message)")
        case .noAnswer(let seconds): "the firmware did not answer a Ping within \(seconds) s; is it a radio image?"
        }
    }
}

/// The reference firmware (Simulator/firmware, the C core on a Cortex-M3)
/// running in QEMU's lm3s6965evb board, with the board's UART0 on a pty.
///
/// The pty is this process's: QEMU gets the master as its descriptor 3
/// (`-add-fd` and `-serial /dev/fdset/1`), and this object holds the slave
/// open, so the board's UART is always "connected" and a driver opening the
/// slave path is heard at once. (QEMU's own `-serial pty` polls once a second
/// for a client after each close, which delays every new session by up to a
/// second.) Stopping it ends QEMU.
public final class FirmwareEmulator: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var image: String
        /// The QEMU binary, looked up on PATH.
        public var emulator = "qemu-system-arm"
        public var machine = "lm3s6965evb"
        /// How long the image has to boot and answer a Ping.
        public var startTimeout: Duration = .seconds(10)
        public init(image: String) { self.image = image }
    }

    public let slavePath: String
    public let processID: Int32
    public let configuration: Configuration
    private let pty: PseudoTerminal
    private let stopped = Atomic<Bool>(false)

    public init(_ configuration: Configuration) throws(FirmwareEmulatorError) {
        self.configuration = configuration
        guard access(configuration.image, R_OK) == 0 else { throw .imageNotFound(configuration.image) }
        let magic = ProcessTable.readSmallBytes(configuration.image).map { Array($0.prefix(4)) }
        guard magic == [0x7F, 0x45, 0x4C, 0x46] else {
            throw .notAnELFImage(configuration.image)
        }
        do {
            pty = try PseudoTerminal.open()
        } catch {
            throw .cannotStart("opening a pseudo-terminal", error)
        }
        slavePath = pty.slavePath
        // QEMU's stderr goes to an unlinked file, read only if it fails.
        var template = Array("/tmp/radio-qemu-XXXXXX".utf8CString)
        let errFD = mkstemp(&template)
        if errFD >= 0 { unlink(template) }
        defer { if errFD >= 0 { close(errFD) } }

        let arguments = [configuration.emulator, "-M", configuration.machine, "-display", "none", "-monitor", "none",
                         "-add-fd", "fd=3,set=1", "-serial", "/dev/fdset/1", "-kernel", configuration.image]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: Int32 = 0
        let rc = radio_spawn(configuration.emulator, &argv, pty.master.rawValue, errFD, 0, &pid)
        guard rc == 0 else {
            try? pty.master.close()
            try? pty.slave.close()
            if rc == ENOENT { throw .emulatorNotFound(configuration.emulator) }
            throw .cannotStart(configuration.emulator, Errno(rawValue: rc))
        }
        processID = pid
        do throws(FirmwareEmulatorError) {
            try waitUntilAnswering(errFD: errFD)
        } catch {
            stop()
            throw error
        }
    }

    /// Sends Ping on the slave until the firmware answers it (QEMU may take a
    /// moment to load the image and the board to set up its UART), then
    /// discards everything read so far.
    private func waitUntilAnswering(errFD: Int32) throws(FirmwareEmulatorError) {
        let start = ContinuousClock.now
        let deadline = start + configuration.startTimeout
        var decoder = FrameDecoder()
        var buffer = [UInt8](repeating: 0, count: 512)
        var attempt: UInt16 = 0
        // Answered: the last Ping sent has its answer, so no answer to an
        // earlier one can still be on its way (the firmware answers in
        // order) and reach the client after the flush below. Heard: some
        // Ping was answered, so no more are sent.
        var answered = false, heard = false
        while !answered {
            let now = ContinuousClock.now
            guard now < deadline else { throw .noAnswer(seconds: configuration.startTimeout.inSeconds) }
            var status: Int32 = 0
            if waitpid(processID, &status, WNOHANG) == processID {
                throw .emulatorExited(status: status, message: Self.lastLine(of: errFD))
            }
            if !heard {
                attempt &+= 1
                let ping = Message.request(.ping([0x52, 0x46])).frame(sequence: attempt).wireBytes
                _ = ping.withUnsafeBytes { write(pty.slave.rawValue, $0.baseAddress, $0.count) }
            }
            // Each attempt listens for 200 ms; an answer to any of them counts.
            let until = min(now + .milliseconds(200), deadline)
            while !answered, ContinuousClock.now < until {
                let events = (try? pty.slave.wait(for: .input, timeout: until - ContinuousClock.now)) ?? []
                guard events.contains(.input) else { continue }
                guard case .bytes(let n)? = try? buffer.withUnsafeMutableBytes({ (b) throws(Errno) in
                    try pty.slave.readAvailable(into: b)
                }) else { break }
                decoder.feed(buffer[..<n]) { event in
                    if case .frame(let f) = event, f.type == Command.ping.rawValue | 0x80, f.sequence <= attempt {
                        heard = true
                        if f.sequence == attempt { answered = true }
                    }
                }
            }
        }
        _ = tcflush(pty.slave.rawValue, TCIOFLUSH)
    }

    private static func lastLine(of fd: Int32) -> String {
        guard fd >= 0 else { return "" }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let n = pread(fd, &bytes, bytes.count, 0)
        guard n > 0 else { return "" }
        let text = String(decoding: bytes[..<n], as: UTF8.self)
        return text.split(whereSeparator: \.isNewline).last.map(String.init) ?? ""
    }

    /// Ends QEMU (SIGTERM, then SIGKILL after a second: a QEMU blocked on a
    /// full pty does not get to its SIGTERM handler) and closes the pty; a
    /// client then reads EOF/EIO, as when a board loses power. Safe to call
    /// more than once.
    public func stop() {
        guard !stopped.exchange(true, ordering: .sequentiallyConsistent) else { return }
        kill(processID, SIGTERM)
        var status: Int32 = 0
        let deadline = ContinuousClock.now + .seconds(1)
        var reaped = false
        while ContinuousClock.now < deadline {
            let rc = waitpid(processID, &status, WNOHANG)
            if rc == processID || (rc < 0 && errno == ECHILD) { reaped = true; break }
            usleep(10_000)
        }
        if !reaped {
            kill(processID, SIGKILL)
            _ = waitpid(processID, &status, 0)
        }
        try? pty.master.close()
        try? pty.slave.close()
    }

    deinit { stop() }
}
