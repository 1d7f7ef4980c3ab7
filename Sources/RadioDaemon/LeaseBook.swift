import RadioProtocol

/// The write lease on a shared radio (docs/PROTOCOL.md §11.1), with no I/O:
/// told what a connection asked, that a connection closed, or that time
/// passed, it says which answers and notices to send. The client loop owns
/// it and carries out its effects.
struct LeaseBook {
    struct Lease {
        let token: UInt64
        let holder: String
        var reason: String
        let since: ContinuousClock.Instant
        var until: ContinuousClock.Instant
        var keep: Bool
        /// The connection whose closing ends the lease unless `keep`: the
        /// one that took it, or last renewed it. nil once it closed (kept).
        var owner: Int?
        /// Connections whose changing commands pass: the owner, and those
        /// that presented the token (Claim).
        var holders: Set<Int>
    }

    struct Waiter {
        let connection: Int
        let sequence: UInt16
        let request: LockRequest
    }

    enum Effect: Equatable {
        /// A response to one connection's request.
        case answer(connection: Int, sequence: UInt16, Response)
        /// A notice to one connection (a refusal, with the refused
        /// request's number), or to every connection (nil, number 0).
        case notice(connection: Int?, sequence: UInt16, LeaseNotice)
    }

    private(set) var lease: Lease?
    private(set) var waiters: [Waiter] = []
    /// Where tokens come from (the system's random numbers; tests pass their own).
    var makeToken: () -> UInt64 = {
        var rng = SystemRandomNumberGenerator()
        return rng.next()
    }

    /// Whether `connection` may send commands that change the radio now.
    func mayChange(_ connection: Int) -> Bool {
        guard let lease else { return true }
        return lease.holders.contains(connection)
    }

    /// The notice that goes before the `busy` a refused request gets.
    func refusal(now: ContinuousClock.Instant) -> LeaseNotice? {
        lease.map { notice(.refused, $0, now: now) }
    }

    /// The lease as `connection` sees it.
    func info(for connection: Int?, now: ContinuousClock.Instant) -> LeaseInfo? {
        guard let lease else { return nil }
        return LeaseInfo(holder: lease.holder, reason: lease.reason, heldSeconds: LeaseBook.seconds(from: lease.since, to: now),
                         leftSeconds: LeaseBook.secondsLeft(lease.until, now: now), keep: lease.keep,
                         yours: connection.map { lease.holders.contains($0) } ?? false,
                         waiting: UInt16(clamping: waiters.count))
    }

    /// Answers a Lock, Unlock, Lease or Claim (Status is the daemon's own).
    /// `peer` names the asking connection, for a revocation's notice.
    mutating func handle(_ request: DaemonRequest, from connection: Int, sequence: UInt16, peer: String,
                         now: ContinuousClock.Instant) -> [Effect] {
        var effects: [Effect] = []
        func answer(_ response: Response) { effects.append(.answer(connection: connection, sequence: sequence, response)) }
        switch request {
        case .lock(let l):
            guard (1...LockRequest.maxSeconds).contains(l.seconds) else {
                answer(.failure(.lock, .outOfRange))
                break
            }
            if var held = lease, held.holders.contains(connection) {
                // A renewal: from now, and this connection now owns it.
                held.until = now + .seconds(Int64(l.seconds))
                if !l.reason.isEmpty { held.reason = l.reason }
                held.keep = l.keep
                held.owner = connection
                lease = held
                answer(.ok(.daemon(.locked(token: held.token, leftSeconds: l.seconds, renewed: true))))
            } else if lease == nil {
                grant(Waiter(connection: connection, sequence: sequence, request: l), now: now, into: &effects)
            } else if l.wait {
                // One waiting Lock per connection: a second takes the
                // first's place in the queue, and the first is answered busy.
                if let i = waiters.firstIndex(where: { $0.connection == connection }) {
                    effects.append(.answer(connection: connection, sequence: waiters[i].sequence, .failure(.lock, .busy)))
                    waiters[i] = Waiter(connection: connection, sequence: sequence, request: l)
                } else {
                    waiters.append(Waiter(connection: connection, sequence: sequence, request: l))
                }
            } else {
                refuse(connection, sequence: sequence, command: .lock, now: now, into: &effects)
            }
        case .unlock(let token, let force):
            var released = false
            if let i = waiters.firstIndex(where: { $0.connection == connection }) {
                effects.append(.answer(connection: connection, sequence: waiters[i].sequence, .failure(.lock, .busy)))
                waiters.remove(at: i)
                released = true
            }
            guard let held = lease else {
                answer(token == 0 ? .ok(.daemon(.unlocked(released: released))) : .failure(.unlock, .notHeld))
                break
            }
            let mine = token == 0 ? held.holders.contains(connection) : token == held.token
            if mine || force {
                end(mine ? .released : .revoked, reason: mine ? nil : "revoked by \(peer)", now: now, into: &effects)
                answer(.ok(.daemon(.unlocked(released: true))))
            } else if token != 0 {
                answer(.failure(.unlock, .notHeld))
            } else {
                answer(.ok(.daemon(.unlocked(released: released))))
            }
        case .lease:
            answer(.ok(.daemon(.lease(info(for: connection, now: now)))))
        case .claim(let token):
            if var held = lease, held.token == token {
                held.holders.insert(connection)
                lease = held
                answer(.ok(.daemon(.claimed(leftSeconds: LeaseBook.secondsLeft(held.until, now: now)))))
            } else {
                answer(.failure(.claim, .notHeld))
            }
        case .status:
            answer(.failure(.status, .unknownCommand))
        }
        return effects
    }

    /// A connection closed: its waiting Lock goes, and a lease it owns
    /// ends unless kept.
    mutating func closed(_ connection: Int, now: ContinuousClock.Instant) -> [Effect] {
        waiters.removeAll { $0.connection == connection }
        guard var held = lease, held.holders.contains(connection) else { return [] }
        held.holders.remove(connection)
        if held.owner == connection {
            held.owner = nil
            if !held.keep {
                lease = held
                var effects: [Effect] = []
                end(.holderGone, reason: nil, now: now, into: &effects)
                return effects
            }
        }
        lease = held
        return []
    }

    /// Ends the lease once its time is up.
    mutating func expire(now: ContinuousClock.Instant) -> [Effect] {
        guard let held = lease, held.until <= now else { return [] }
        var effects: [Effect] = []
        end(.expired, reason: nil, now: now, into: &effects)
        return effects
    }

    private mutating func grant(_ w: Waiter, now: ContinuousClock.Instant, into effects: inout [Effect]) {
        var token = makeToken()
        while token == 0 { token = makeToken() }
        let l = w.request
        let granted = Lease(token: token, holder: l.holder, reason: l.reason, since: now,
                            until: now + .seconds(Int64(l.seconds)), keep: l.keep, owner: w.connection,
                            holders: [w.connection])
        lease = granted
        effects.append(.answer(connection: w.connection, sequence: w.sequence,
                               .ok(.daemon(.locked(token: token, leftSeconds: l.seconds, renewed: false)))))
        effects.append(.notice(connection: nil, sequence: 0, notice(.taken, granted, now: now)))
    }

    private func refuse(_ connection: Int, sequence: UInt16, command: Command, now: ContinuousClock.Instant,
                        into effects: inout [Effect]) {
        if let n = refusal(now: now) { effects.append(.notice(connection: connection, sequence: sequence, n)) }
        effects.append(.answer(connection: connection, sequence: sequence, .failure(command, .busy)))
    }

    /// Ends the lease (telling everyone), then grants it to the first waiter.
    private mutating func end(_ event: LeaseEvent, reason: String?, now: ContinuousClock.Instant, into effects: inout [Effect]) {
        guard let held = lease else { return }
        var n = notice(event, held, now: now)
        n.leftSeconds = 0
        if let reason { n.reason = reason }
        lease = nil
        effects.append(.notice(connection: nil, sequence: 0, n))
        if !waiters.isEmpty { grant(waiters.removeFirst(), now: now, into: &effects) }
    }

    private func notice(_ event: LeaseEvent, _ l: Lease, now: ContinuousClock.Instant) -> LeaseNotice {
        LeaseNotice(event: event, holder: l.holder, reason: l.reason, heldSeconds: LeaseBook.seconds(from: l.since, to: now),
                    leftSeconds: LeaseBook.secondsLeft(l.until, now: now))
    }

    static func seconds(from a: ContinuousClock.Instant, to b: ContinuousClock.Instant) -> UInt32 {
        let d = a.duration(to: b)
        return d <= .zero ? 0 : UInt32(clamping: d.components.seconds)
    }

    /// Whole seconds left, rounded up (a lease granted for 600 s says 600).
    static func secondsLeft(_ until: ContinuousClock.Instant, now: ContinuousClock.Instant) -> UInt32 {
        let d = now.duration(to: until)
        guard d > .zero else { return 0 }
        let (s, atto) = d.components
        return UInt32(clamping: s + (atto > 0 ? 1 : 0))
    }
}
