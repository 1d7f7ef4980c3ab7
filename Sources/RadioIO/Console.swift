#if canImport(Glibc)
import Glibc
#endif
import CRadioSystem

/// Standard output and error without Foundation's FileHandle: each call is
/// written at once (a reader of a pipe sees the line as it happens), all of
/// it, EINTR retried. Errors writing (a closed pipe) are dropped, as a
/// command has nowhere else to report them.
public enum Console {
    public static func out(_ text: String) { write(text, to: STDOUT_FILENO) }
    public static func error(_ text: String) { write(text, to: STDERR_FILENO) }

    public static func write(_ text: String, to fd: Int32) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return }
                offset += n
            }
        }
    }
}

/// `value` with `digits` decimals, as printf's `%.Nf` does, without
/// Foundation's `String(format:)`; an exact half is rounded away from zero
/// (printf rounds it to even: 2.5 is "3" here, "2" there).
public func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return value.isNaN ? "nan" : (value < 0 ? "-inf" : "inf") }
    var scale = 1.0
    for _ in 0..<max(digits, 0) { scale *= 10 }
    let scaled = (value * scale).rounded()
    guard scaled.magnitude < 9e15 else { return "\(value)" }
    let magnitude = UInt64(scaled.magnitude), unit = UInt64(scale)
    var text = (scaled < 0 ? "-" : "") + String(magnitude / unit)
    if digits > 0 {
        let fraction = String(magnitude % unit)
        text += "." + String(repeating: "0", count: digits - fraction.count) + fraction
    }
    return text
}

/// `text` padded with spaces on the right to `width` characters.
public func leftAligned(_ text: String, _ width: Int) -> String {
    text + String(repeating: " ", count: max(0, width - text.count))
}

/// `text` padded with spaces on the left to `width` characters.
public func rightAligned(_ text: String, _ width: Int) -> String {
    String(repeating: " ", count: max(0, width - text.count)) + text
}

/// A thread of its own, without Foundation's Thread: a detached pthread,
/// named (at most 15 bytes show in /proc and debuggers), running `body`.
public func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box: Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(_ name: String, _ body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
    let box = Unmanaged.passRetained(Box(String(name.utf8.prefix(15)) ?? "radio", body)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { argument in
        guard let argument else { return nil }
        let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
        _ = radio_name_thread(box.name)
        box.body()
        return nil
    }, box)
    guard rc == 0 else {
        // Out of threads or memory: nothing the caller could do better.
        fatalError("pthread_create failed: \(String(cString: strerror(rc)))")
    }
    pthread_detach(thread)
}
