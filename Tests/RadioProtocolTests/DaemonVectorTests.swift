import Foundation
import RadioProtocol
import Testing

/// The message a `daemon` vector's JSON describes (PROTOCOL.md §11),
/// built from the JSON, not by the codec.
func daemonMessage(_ json: Any?) -> Message? {
    guard let m = json as? [String: Any], let kind = m["kind"] as? String else { return nil }
    let names: [String: Command] = ["lock": .lock, "unlock": .unlock, "lease": .lease, "claim": .claim, "status": .status]
    func token(_ key: String) -> UInt64 { UInt64(m[key] as? String ?? "", radix: 16) ?? 0 }
    switch kind {
    case "lease":
        let events: [String: LeaseEvent] = ["refused": .refused, "taken": .taken, "released": .released,
                                            "expired": .expired, "holder_gone": .holderGone, "revoked": .revoked]
        guard let event = events[m["event"] as? String ?? ""] else { return nil }
        return .lease(LeaseNotice(event: event, holder: m["holder"] as? String ?? "", reason: m["reason"] as? String ?? "",
                                  heldSeconds: UInt32(int(m["held_s"])), leftSeconds: UInt32(int(m["left_s"]))))
    case "request":
        switch m["command"] as? String {
        case "lock":
            return .request(.daemon(.lock(LockRequest(
                seconds: UInt32(int(m["seconds"])), holder: m["holder"] as? String ?? "", reason: m["reason"] as? String ?? "",
                keep: m["keep"] as? Bool ?? false, wait: m["wait"] as? Bool ?? false))))
        case "unlock": return .request(.daemon(.unlock(token: token("token"), force: m["force"] as? Bool ?? false)))
        case "lease": return .request(.daemon(.lease))
        case "claim": return .request(.daemon(.claim(token: token("token"))))
        case "status": return .request(.daemon(.status(offset: UInt32(int(m["offset"])))))
        default: return nil
        }
    case "response":
        if let plain = message(json) { return plain }  // a radio command's answer (busy under a lease)
        guard let command = names[m["command"] as? String ?? ""] else { return nil }
        let status = m["status"] as? String
        if status == "not_held" { return .response(.failure(command, .notHeld)) }
        if let s = statusNames[status ?? ""], s != .ok { return .response(.failure(command, s)) }
        let reply: DaemonReply
        switch command {
        case .lock: reply = .locked(token: token("token"), leftSeconds: UInt32(int(m["left_s"])), renewed: m["renewed"] as? Bool ?? false)
        case .unlock: reply = .unlocked(released: m["released"] as? Bool ?? false)
        case .lease:
            if let l = m["lease"] as? [String: Any] {
                reply = .lease(LeaseInfo(holder: l["holder"] as? String ?? "", reason: l["reason"] as? String ?? "",
                                         heldSeconds: UInt32(int(l["held_s"])), leftSeconds: UInt32(int(l["left_s"])),
                                         keep: l["keep"] as? Bool ?? false, yours: l["yours"] as? Bool ?? false,
                                         waiting: UInt16(int(l["waiting"]))))
            } else {
                reply = .lease(nil)
            }
        case .claim: reply = .claimed(leftSeconds: UInt32(int(m["left_s"])))
        case .status: reply = .status(total: UInt32(int(m["total"])), bytes: Array((m["text"] as? String ?? "").utf8))
        default: return nil
        }
        return .response(.ok(.daemon(reply)))
    default:
        return nil
    }
}

@Suite("docs/vectors.json: the daemon's lease and status frames (§6.5, §11)")
struct DaemonVectorTests {
    let vectors = Vectors.load()

    @Test func everyDaemonVectorDecodesToItsMessageAndEncodesToItsBytes() throws {
        let cases = vectors.list("daemon")
        #expect(cases.count >= 20)
        for c in cases {
            let name = c["name"] as? String ?? "?"
            let wire = hex(c["wire"])
            let expectedFrame = frame(c["frame"])
            #expect(decodeAll(wire) == [.frame(expectedFrame)], "\(name)")
            let expected = try #require(daemonMessage(c["message"]), "\(name): vector's message")
            #expect(try Message(frame: expectedFrame) == expected, "\(name): message")
            #expect(expected.frame(sequence: expectedFrame.sequence).wireBytes == wire, "\(name): message encodes")
        }
    }

    @Test func everyDaemonErrorVectorIsRejected() {
        let cases = vectors.list("daemon_errors")
        #expect(cases.count >= 6)
        for c in cases {
            let name = c["name"] as? String ?? "?"
            guard case .frame(let f)? = decodeAll(hex(c["wire"])).first else {
                Issue.record("\(name): frame did not decode")
                continue
            }
            switch Result(catching: { () throws(MessageError) in try Message(frame: f) }) {
            case .success(let m): Issue.record("\(name): decoded as \(m)")
            case .failure(.malformedPayload): #expect(c["error"] as? String == "malformed_payload", "\(name)")
            case .failure(.unknownType): #expect(c["error"] as? String == "unknown_type", "\(name)")
            case .failure(.unsupportedVersion): Issue.record("\(name): unsupported version")
            }
        }
    }

    @Test func tokensPrintAndParseBack() {
        #expect(leaseToken(0x8f3a_2b1c_0d4e_5f60) == "8f3a2b1c0d4e5f60")
        #expect(leaseToken(1) == "0000000000000001")
        #expect(leaseToken(parsing: "8F3A2B1C0D4E5F60") == 0x8f3a_2b1c_0d4e_5f60)
        for bad in ["", "0", "0000000000000000", "+1", "-1", "xyz", "8f3a2b1c0d4e5f601", " 1"] {
            #expect(leaseToken(parsing: bad) == nil, "'\(bad)'")
        }
    }

    /// Over-long text is cut to its limit (32 bytes of holder, 200 of
    /// reason) without splitting a character.
    @Test func theHolderAndReasonAreCutOnACharacterBoundary() throws {
        let long = String(repeating: "é", count: 40)  // 80 bytes
        let m = Message.request(.daemon(.lock(LockRequest(seconds: 60, holder: long, reason: String(repeating: "ü", count: 150)))))
        guard case .request(.daemon(.lock(let back))) = try Message(frame: m.frame(sequence: 1)) else {
            Issue.record("did not decode as a Lock")
            return
        }
        #expect(back.holder == String(repeating: "é", count: 16))
        #expect(back.reason == String(repeating: "ü", count: 100))
    }
}
