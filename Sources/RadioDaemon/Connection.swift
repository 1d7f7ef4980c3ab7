#if canImport(Glibc)
import Glibc
#endif
import Locking
import RadioIO
import SystemPackage
import Synchronization

/// Why the daemon disconnects a client.
public enum KickReason: Sendable, Hashable, CustomStringConvertible {
    /// Its queue would pass the limit: it is not reading.
    case notReading(queued: Int, limit: Int)
    /// The socket failed.
    case connectionLost(String)

    public var description: String {
        switch self {
        case .notReading(let queued, let limit):
            "not reading: \(queued) bytes would wait, over the \(limit)-byte client queue limit"
        case .connectionLost(let why): "connection lost (\(why))"
        }
    }
}

/// One client's socket and the bytes waiting to go to it.
///
/// The radio thread writes replies and telemetry straight to the socket
/// while nothing is queued; what the socket does not take waits here, up to
/// a limit, and the client loop sends it as the socket drains. A client
/// whose queue would pass the limit is not keeping up: it is marked to be
/// disconnected, so it can never hold up the radio or the other clients.
final class Connection: Sendable {
    let id: Int
    /// Only read or closed under `out`'s lock, so no write can reach a
    /// descriptor number the kernel has handed to someone else.
    private let socket: FileDescriptor
    /// "127.0.0.1:40122", "unix (pid 1234)".
    let peer: String
    /// When it connected (the status document's `connected_s`).
    let since = ContinuousClock.now

    private struct Outbound {
        var queue: [UInt8] = []
        var offset = 0
        var closed = false
        /// Why the loop must disconnect this client, once set.
        var kick: KickReason?
        var pending: Int { queue.count - offset }
    }
    private let out = Locked(Outbound())
    /// Set by the client loop when the client shut down its sending side:
    /// the radio thread then wakes the loop with the last reply, so the
    /// connection closes as soon as everything it asked for is delivered.
    let doneSending = Atomic<Bool>(false)
    /// Set while the client loop holds requests of this client waiting for
    /// its share of the radio: the radio thread wakes the loop with each
    /// answer to this client, so the next goes out at once.
    let hasWaiting = Atomic<Bool>(false)

    init(id: Int, socket: FileDescriptor, peer: String) {
        self.id = id
        self.socket = socket
        self.peer = peer
    }

    var descriptor: FileDescriptor { socket }
    var hasQueued: Bool { out.withLock { $0.pending > 0 } }
    var kickReason: KickReason? { out.withLock { $0.kick } }
    var queuedBytes: Int { out.withLock { $0.pending } }

    /// Sends `bytes` now or queues them. Returns true when the client loop
    /// must look at this client (bytes newly queued, or it must go).
    func deliver(_ bytes: [UInt8], limit: Int) -> Bool {
        out.withLock { o -> Bool in
            if o.closed || o.kick != nil { return false }
            var start = 0
            if o.pending == 0 {
                o.queue.removeAll(keepingCapacity: true)
                o.offset = 0
                let socket = self.socket
                let sent = bytes.withUnsafeBytes { b in
                    Result { () throws(Errno) -> Int in try StreamSocket.sendAvailable(socket, b) }
                }
                switch sent {
                case .success(let n) where n == bytes.count: return false
                case .success(let n): start = n
                case .failure(let e):
                    o.kick = .connectionLost(e.description)
                    return true
                }
            }
            let wasEmpty = o.pending == 0
            if o.pending + bytes.count - start > limit {
                o.kick = .notReading(queued: o.pending + bytes.count - start, limit: limit)
                return true
            }
            o.queue.append(contentsOf: bytes[start...])
            return wasEmpty
        }
    }

    /// Sends what is queued, as far as the socket takes it. Returns why the
    /// client must go, or nil.
    func flush() -> String? {
        out.withLock { o -> String? in
            let socket = self.socket
            while o.pending > 0 && !o.closed {
                let offset = o.offset
                let sent = o.queue.withUnsafeBytes { b in
                    Result { () throws(Errno) -> Int in
                        try StreamSocket.sendAvailable(socket, UnsafeRawBufferPointer(rebasing: b[offset...]))
                    }
                }
                switch sent {
                case .success(let n) where n > 0:
                    o.offset += n
                    continue
                case .success:
                    break  // the socket is full: the loop waits for POLLOUT
                case .failure(let e):
                    return "connection lost (\(e.description))"
                }
                break
            }
            if o.pending == 0 {
                o.queue.removeAll(keepingCapacity: o.queue.capacity <= 65536)
                o.offset = 0
            } else if o.offset > 65536 {
                o.queue.removeFirst(o.offset)
                o.offset = 0
            }
            return nil
        }
    }

    /// Closes the socket; later deliveries are dropped.
    func close() {
        out.withLock { o in
            guard !o.closed else { return }
            o.closed = true
            o.queue = []
            o.offset = 0
            _ = shutdownBoth(socket)
            try? socket.close()
        }
    }
}
