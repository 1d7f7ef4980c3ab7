// Requests a sharing daemon answers itself (docs/PROTOCOL.md §11.1-11.2):
// the write lease on its radio, and its status document. A radio answers
// them `unknown command`, as it does any type it does not know.

extension Command {
    /// Take or renew the write lease (§11.1).
    public static let lock = Command(rawValue: 0x20)
    /// Give the lease back, or withdraw a waiting Lock.
    public static let unlock = Command(rawValue: 0x21)
    /// Who holds the lease.
    public static let lease = Command(rawValue: 0x22)
    /// Present a lease's token: this connection's set commands pass.
    public static let claim = Command(rawValue: 0x23)
    /// A page of the daemon's status document (§11.2).
    public static let status = Command(rawValue: 0x24)

    /// Types 0x20-0x2F: a sharing daemon answers them and never forwards them.
    public static func isDaemonCommand(_ type: UInt8) -> Bool { type >= 0x20 && type <= 0x2F }

    /// Commands that change the radio (SetPower, SetChannel,
    /// SetTelemetryRate, and any type the daemon does not know): refused,
    /// while a lease is held, to connections that do not hold it. Identify,
    /// GetState and Ping read, and pass.
    public var changesRadio: Bool { !(self == .identify || self == .getState || self == .ping) }
}

extension Status {
    /// Lease requests only: the lease a token names is not held (it
    /// expired, was given back, or never was).
    public static let notHeld = Status(rawValue: 0x07)
}

extension FrameType {
    /// A sharing daemon's notice about its write lease (§6.5).
    public static let lease: UInt8 = 0x42
}

/// Lock's arguments.
public struct LockRequest: Hashable, Sendable {
    /// The lease outlives the connection that took it (until it expires or
    /// is given back).
    public var keep: Bool
    /// Queue for the lease when another holds it: the answer comes when it
    /// is granted.
    public var wait: Bool
    /// How long the lease lasts from now (a renewal counts from now too).
    public var seconds: UInt32
    /// Who asks: `user@host:pid`, at most 32 bytes, not empty.
    public var holder: String
    /// Why, for `who` (at most `maxReasonBytes` bytes).
    public var reason: String

    public static let maxSeconds: UInt32 = 7 * 24 * 3600
    public static let maxReasonBytes = 200

    public init(seconds: UInt32, holder: String, reason: String = "", keep: Bool = false, wait: Bool = false) {
        self.seconds = seconds
        self.holder = holder
        self.reason = reason
        self.keep = keep
        self.wait = wait
    }
}

/// A request only a sharing daemon answers.
public enum DaemonRequest: Hashable, Sendable {
    case lock(LockRequest)
    /// `token` 0: the lease this connection holds (or its waiting Lock);
    /// `force`: whoever holds it.
    case unlock(token: UInt64, force: Bool)
    case lease
    case claim(token: UInt64)
    /// The status document from `offset`; offset 0 takes a fresh snapshot.
    case status(offset: UInt32)

    public var command: Command {
        switch self {
        case .lock: .lock
        case .unlock: .unlock
        case .lease: .lease
        case .claim: .claim
        case .status: .status
        }
    }
}

/// The lease as `Lease` reports it, and as a notice carries it.
public struct LeaseInfo: Hashable, Sendable {
    public var holder: String
    public var reason: String
    /// Seconds since it was granted, and until it expires.
    public var heldSeconds: UInt32
    public var leftSeconds: UInt32
    public var keep: Bool
    /// The asking connection holds it (took or claimed it).
    public var yours: Bool
    /// Connections queued for it.
    public var waiting: UInt16

    public init(holder: String, reason: String = "", heldSeconds: UInt32 = 0, leftSeconds: UInt32 = 0,
                keep: Bool = false, yours: Bool = false, waiting: UInt16 = 0) {
        self.holder = holder
        self.reason = reason
        self.heldSeconds = heldSeconds
        self.leftSeconds = leftSeconds
        self.keep = keep
        self.yours = yours
        self.waiting = waiting
    }
}

/// A successful answer to a daemon request.
public enum DaemonReply: Hashable, Sendable {
    /// Lock: the lease's token and seconds left; `renewed` when this
    /// connection held it already.
    case locked(token: UInt64, leftSeconds: UInt32, renewed: Bool)
    /// Unlock: whether a lease (or a waiting Lock) went.
    case unlocked(released: Bool)
    /// Lease: nil when nobody holds it.
    case lease(LeaseInfo?)
    case claimed(leftSeconds: UInt32)
    /// Status: the document's length, and its bytes from the asked offset.
    case status(total: UInt32, bytes: [UInt8])

    public var command: Command {
        switch self {
        case .locked: .lock
        case .unlocked: .unlock
        case .lease: .lease
        case .claimed: .claim
        case .status: .status
        }
    }

    /// Bytes of the status document one answer carries at most.
    public static let maxStatusBytes = Frame.maxPayload - 5
}

/// What happened to the lease (frame type 0x42).
public enum LeaseEvent: UInt8, Hashable, Sendable {
    /// Your request (the notice's sequence number) was answered busy: the
    /// lease below is someone else's.
    case refused = 0
    case taken = 1
    case released = 2
    case expired = 3
    /// Its holder's connection closed, and it was not kept.
    case holderGone = 4
    /// Ended by someone else's forced Unlock.
    case revoked = 5
}

/// A sharing daemon's notice about its lease.
public struct LeaseNotice: Hashable, Sendable {
    public var event: LeaseEvent
    public var holder: String
    public var reason: String
    public var heldSeconds: UInt32
    public var leftSeconds: UInt32

    public init(event: LeaseEvent, holder: String, reason: String = "", heldSeconds: UInt32 = 0, leftSeconds: UInt32 = 0) {
        self.event = event
        self.holder = holder
        self.reason = reason
        self.heldSeconds = heldSeconds
        self.leftSeconds = leftSeconds
    }
}

extension PayloadWriter {
    mutating func u64(_ v: UInt64) {
        u32(UInt32(truncatingIfNeeded: v))
        u32(UInt32(truncatingIfNeeded: v >> 32))
    }

    mutating func daemonRequest(_ request: DaemonRequest) {
        switch request {
        case .lock(let l):
            u8((l.keep ? 1 : 0) | (l.wait ? 2 : 0))
            u32(l.seconds)
            string(l.holder)
            text(l.reason, limit: LockRequest.maxReasonBytes)
        case .unlock(let token, let force):
            u8(force ? 1 : 0)
            u64(token)
        case .lease:
            break
        case .claim(let token):
            u64(token)
        case .status(let offset):
            u32(offset)
        }
    }

    mutating func daemonReply(_ reply: DaemonReply) {
        switch reply {
        case .locked(let token, let left, let renewed):
            u64(token)
            u32(left)
            u8(renewed ? 1 : 0)
        case .unlocked(let released):
            u8(released ? 1 : 0)
        case .lease(nil):
            u8(0)
        case .lease(let info?):
            u8(1)
            u8((info.keep ? 1 : 0) | (info.yours ? 2 : 0))
            u32(info.heldSeconds)
            u32(info.leftSeconds)
            u16(info.waiting)
            string(info.holder)
            text(info.reason, limit: LockRequest.maxReasonBytes)
        case .claimed(let left):
            u32(left)
        case .status(let total, let page):
            precondition(page.count <= DaemonReply.maxStatusBytes, "status page too long")
            u32(total)
            bytes(page)
        }
    }

    mutating func leaseNotice(_ n: LeaseNotice) {
        u8(n.event.rawValue)
        u32(n.heldSeconds)
        u32(n.leftSeconds)
        string(n.holder)
        text(n.reason, limit: LockRequest.maxReasonBytes)
    }
}

extension ByteReader {
    mutating func u64(or error: MessageError) throws(MessageError) -> UInt64 {
        let lo = try u32(or: error), hi = try u32(or: error)
        return UInt64(lo) | UInt64(hi) << 32
    }

    /// The rest as UTF-8 of at most 200 bytes, without control characters.
    mutating func reason(or error: MessageError) throws(MessageError) -> String {
        guard remaining <= LockRequest.maxReasonBytes, let s = restAsString(), LeaseText.isPrintable(s) else { throw error }
        return s
    }

    /// A holder: 1 to 32 bytes of UTF-8 without control characters.
    mutating func holder(or error: MessageError) throws(MessageError) -> String {
        let s = try string(or: error)
        guard !s.isEmpty, LeaseText.isPrintable(s) else { throw error }
        return s
    }

    mutating func daemonRequest(_ command: Command, or malformed: MessageError) throws(MessageError) -> DaemonRequest {
        switch command {
        case .lock:
            let flags = try u8(or: malformed)
            guard flags & ~0x03 == 0 else { throw malformed }
            let seconds = try u32(or: malformed)
            let holder = try holder(or: malformed)
            return .lock(LockRequest(seconds: seconds, holder: holder, reason: try reason(or: malformed),
                                     keep: flags & 1 != 0, wait: flags & 2 != 0))
        case .unlock:
            let flags = try u8(or: malformed)
            guard flags & ~0x01 == 0 else { throw malformed }
            return .unlock(token: try u64(or: malformed), force: flags & 1 != 0)
        case .lease:
            return .lease
        case .claim:
            return .claim(token: try u64(or: malformed))
        case .status:
            return .status(offset: try u32(or: malformed))
        default:
            throw .unknownType(command.rawValue)
        }
    }

    mutating func daemonReply(_ command: Command, or malformed: MessageError) throws(MessageError) -> DaemonReply {
        switch command {
        case .lock:
            let token = try u64(or: malformed), left = try u32(or: malformed)
            let flags = try u8(or: malformed)
            guard flags <= 1 else { throw malformed }
            return .locked(token: token, leftSeconds: left, renewed: flags == 1)
        case .unlock:
            let released = try u8(or: malformed)
            guard released <= 1 else { throw malformed }
            return .unlocked(released: released == 1)
        case .lease:
            let held = try u8(or: malformed)
            guard held <= 1 else { throw malformed }
            guard held == 1 else { return .lease(nil) }
            let flags = try u8(or: malformed)
            guard flags & ~0x03 == 0 else { throw malformed }
            let heldFor = try u32(or: malformed), left = try u32(or: malformed)
            let waiting = try u16(or: malformed)
            let holder = try holder(or: malformed)
            return .lease(LeaseInfo(holder: holder, reason: try reason(or: malformed), heldSeconds: heldFor,
                                    leftSeconds: left, keep: flags & 1 != 0, yours: flags & 2 != 0, waiting: waiting))
        case .claim:
            return .claimed(leftSeconds: try u32(or: malformed))
        case .status:
            let total = try u32(or: malformed)
            guard remaining <= DaemonReply.maxStatusBytes else { throw malformed }
            return .status(total: total, bytes: rest())
        default:
            throw .unknownType(command.rawValue | FrameType.responseFlag)
        }
    }

    mutating func leaseNotice(or malformed: MessageError) throws(MessageError) -> LeaseNotice {
        guard let event = LeaseEvent(rawValue: try u8(or: malformed)) else { throw malformed }
        let heldFor = try u32(or: malformed), left = try u32(or: malformed)
        let holder = try holder(or: malformed)
        return LeaseNotice(event: event, holder: holder, reason: try reason(or: malformed), heldSeconds: heldFor,
                           leftSeconds: left)
    }
}

extension DaemonRequest: CustomStringConvertible {
    public var description: String {
        switch self {
        case .lock(let l):
            "Lock \(l.seconds) s holder=\"\(l.holder)\"" + (l.keep ? " keep" : "") + (l.wait ? " wait" : "")
                + (l.reason.isEmpty ? "" : " reason=\"\(l.reason)\"")
        case .unlock(let token, let force): "Unlock token=\(leaseToken(token))" + (force ? " force" : "")
        case .lease: "Lease"
        case .claim(let token): "Claim token=\(leaseToken(token))"
        case .status(let offset): "Status from \(offset)"
        }
    }
}

extension DaemonReply: CustomStringConvertible {
    public var description: String {
        switch self {
        case .locked(let token, let left, let renewed): "\(renewed ? "Renewed" : "Locked") token=\(leaseToken(token)) \(left) s left"
        case .unlocked(let released): released ? "Unlocked" : "Unlocked (nothing held)"
        case .lease(nil): "Lease free"
        case .lease(let i?): "Lease held by \"\(i.holder)\" \(i.leftSeconds) s left" + (i.yours ? " (yours)" : "")
        case .claimed(let left): "Claimed \(left) s left"
        case .status(let total, let bytes): "Status \(bytes.count) of \(total) bytes"
        }
    }
}

/// A lease token as it is printed and read back (RADIO_LEASE): 16 hex digits.
public func leaseToken(_ token: UInt64) -> String {
    let digits = String(token, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}

/// Reads a token printed by `leaseToken`; nil unless 1 to 16 hex digits, not all zero.
public func leaseToken(parsing text: String) -> UInt64? {
    guard (1...16).contains(text.utf8.count), text.utf8.allSatisfy({ $0 < 0x80 && ($0 | 0x20).isHexDigitByte }),
          let v = UInt64(text, radix: 16), v != 0 else { return nil }
    return v
}

extension UInt8 {
    /// 0-9 or a-f (callers fold case with `| 0x20`).
    fileprivate var isHexDigitByte: Bool { (0x30...0x39).contains(self) || (0x61...0x66).contains(self) }
}

/// The rule for a lease's holder and reason (§11.1): text a log line and a
/// terminal can show as it is, so no C0 control character and no DEL.
public enum LeaseText {
    public static func isPrintable(_ s: String) -> Bool {
        s.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
    }
}
