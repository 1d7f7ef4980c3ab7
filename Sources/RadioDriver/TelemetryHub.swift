public import RadioProtocol
import Locking
import Synchronization

/// What a telemetry subscriber receives, in order.
public enum TelemetryEvent: Hashable, Sendable {
    case sample(TelemetrySample)
    /// This subscriber fell behind: its buffer was full and it lost the
    /// `count` oldest samples at this point in the stream.
    case dropped(count: Int)
    /// Samples were lost on the line before they reached the driver: the
    /// radio's telemetry sequence jumped by `missed` more than one.
    case gap(missed: Int)
}

/// The measured quantities a subscriber can watch for change.
public struct TelemetryFields: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let rssi = TelemetryFields(rawValue: 1 << 0)
    public static let snr = TelemetryFields(rawValue: 1 << 1)
    public static let temperature = TelemetryFields(rawValue: 1 << 2)
    public static let supply = TelemetryFields(rawValue: 1 << 3)
    public static let forwardPower = TelemetryFields(rawValue: 1 << 4)
    public static let reflectedPower = TelemetryFields(rawValue: 1 << 5)
    public static let all: TelemetryFields = [.rssi, .snr, .temperature, .supply, .forwardPower, .reflectedPower]

    /// The fields whose values differ between `a` and `b`.
    static func changed(_ a: Measurements, _ b: Measurements) -> TelemetryFields {
        var f: TelemetryFields = []
        if a.rssiDeciDBm != b.rssiDeciDBm { f.insert(.rssi) }
        if a.snrDeciDB != b.snrDeciDB { f.insert(.snr) }
        if a.temperatureDeciC != b.temperatureDeciC { f.insert(.temperature) }
        if a.supplyMillivolts != b.supplyMillivolts { f.insert(.supply) }
        if a.forwardDeciDBm != b.forwardDeciDBm { f.insert(.forwardPower) }
        if a.reflectedDeciDBm != b.reflectedDeciDBm { f.insert(.reflectedPower) }
        return f
    }
}

/// What one subscriber wants, applied on the publishing thread so that
/// unwanted samples cost the subscriber no buffer space.
public struct TelemetryFilter: Sendable {
    /// Samples held for a subscriber that has not caught up. When full, the
    /// oldest is dropped and counted (`TelemetryEvent.dropped`).
    public var bufferSize: Int
    /// At most this many samples per second, by the radio's own clock
    /// (`uptimeMillis`); nil for every sample.
    public var maxRate: Double?
    /// Deliver a sample only when one of these fields changed since the last
    /// sample delivered; `.all` (the default) delivers every sample.
    public var fields: TelemetryFields
    /// Deliver only samples for which this returns true.
    public var predicate: (@Sendable (TelemetrySample) -> Bool)?

    public init(bufferSize: Int = 256, maxRate: Double? = nil, fields: TelemetryFields = .all,
                where predicate: (@Sendable (TelemetrySample) -> Bool)? = nil) {
        self.bufferSize = max(1, bufferSize)
        self.maxRate = maxRate
        self.fields = fields
        self.predicate = predicate
    }
}

/// Fans telemetry out to any number of in-process subscribers.
///
/// One thread publishes (the client's reader); each subscriber has a
/// fixed ring buffer made when it subscribes, so a publish never allocates
/// and costs one short locked store per subscriber. A subscriber that falls
/// behind loses its oldest samples, and is told how many, instead of
/// slowing the publisher, the other subscribers, or command replies.
public final class TelemetryHub: Sendable {
    private struct State {
        var list: ContiguousArray<Subscriber> = []
        /// The last telemetry sequence number published, for gap detection;
        /// -1 until the first sample after the first subscriber.
        var lastSequence = -1
    }
    private let state = Locked(State())
    /// Read without the lock so that a publish with no subscribers costs
    /// one atomic load.
    private let count = Atomic<Int>(0)

    public init() {}

    /// The number of live subscriptions.
    public var subscriberCount: Int { count.load(ordering: .relaxed) }

    /// Adds a subscriber. Cancelling the task that iterates it, calling
    /// `cancel()`, or dropping every copy of it unsubscribes.
    public func subscribe(_ filter: TelemetryFilter = TelemetryFilter()) -> TelemetrySubscription {
        let subscriber = Subscriber(filter: filter)
        state.withLock { s in
            if s.list.isEmpty { s.lastSequence = -1 }
            s.list.append(subscriber)
            count.store(s.list.count, ordering: .relaxed)
        }
        return TelemetrySubscription(handle: SubscriptionHandle(hub: self, subscriber: subscriber))
    }

    /// Hands a sample to every subscriber. Called by one thread at a time.
    public func publish(_ sample: TelemetrySample) {
        if count.load(ordering: .relaxed) == 0 { return }
        state.withLock { s in
            let missed = s.lastSequence < 0 ? 0 : Int(sample.sequence &- UInt16(truncatingIfNeeded: s.lastSequence) &- 1)
            s.lastSequence = Int(sample.sequence)
            for subscriber in s.list {
                subscriber.offer(sample, missed: missed)
            }
        }
    }

    /// Ends every subscription: their sequences finish after the samples
    /// they hold. Used when the client closes.
    public func finishAll() {
        let all = state.withLock { s -> ContiguousArray<Subscriber> in
            defer {
                s.list.removeAll()
                count.store(0, ordering: .relaxed)
            }
            return s.list
        }
        for s in all { s.finish() }
    }

    func remove(_ subscriber: Subscriber) {
        state.withLock { s in
            s.list.removeAll { $0 === subscriber }
            count.store(s.list.count, ordering: .relaxed)
        }
        subscriber.finish()
    }
}

/// One subscriber's buffer and filter state.
final class Subscriber: Sendable {
    struct State {
        var ring: [TelemetryEvent]
        var head = 0
        var count = 0
        /// Dropped since the subscriber last saw a `.dropped` event.
        var unreportedDrops = 0
        var totalDrops = 0
        var waiter: UnsafeContinuation<TelemetryEvent?, Never>?
        var finished = false
        var lastDelivered: TelemetrySample?
    }

    let filter: TelemetryFilter
    let minimumSpacingMillis: UInt32
    let state: Locked<State>

    init(filter: TelemetryFilter) {
        self.filter = filter
        minimumSpacingMillis = filter.maxRate.map { $0 > 0 ? UInt32(min(1000 / $0, 86_400_000)) : 0 } ?? 0
        state = Locked(State(ring: [TelemetryEvent](repeating: .dropped(count: 0), count: filter.bufferSize)))
    }

    /// Filters, then buffers or hands over one sample. No allocation: the
    /// ring was made at subscribe time and events are plain values.
    func offer(_ sample: TelemetrySample, missed: Int) {
        let handoff = state.withLock { s -> (UnsafeContinuation<TelemetryEvent?, Never>, TelemetryEvent?)? in
            if s.finished { return nil }
            if missed > 0 { s.push(.gap(missed: missed), capacity: filter.bufferSize) }
            if wants(sample, after: s.lastDelivered) {
                s.lastDelivered = sample
                s.push(.sample(sample), capacity: filter.bufferSize)
            }
            guard let waiter = s.waiter, s.count > 0 || s.unreportedDrops > 0 else { return nil }
            s.waiter = nil
            return (waiter, s.pop())
        }
        if let (waiter, event) = handoff { waiter.resume(returning: event) }
    }

    /// Decimation, change filter, then the predicate.
    private func wants(_ sample: TelemetrySample, after last: TelemetrySample?) -> Bool {
        if let last {
            if minimumSpacingMillis > 0 && sample.uptimeMillis &- last.uptimeMillis < minimumSpacingMillis { return false }
            if filter.fields != .all
                && TelemetryFields.changed(last.measurements, sample.measurements).isDisjoint(with: filter.fields) {
                return false
            }
        }
        return filter.predicate?(sample) ?? true
    }

    func finish() {
        let waiter = state.withLock { s -> UnsafeContinuation<TelemetryEvent?, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.count == 0 ? s.waiter : nil
        }
        waiter?.resume(returning: nil)
    }

    var totalDrops: Int { state.withLock { $0.totalDrops } }
}

extension Subscriber.State {
    mutating func push(_ event: TelemetryEvent, capacity: Int) {
        if count == capacity {
            // Drop the oldest and count it. A dropped `.gap` marker's
            // samples count as dropped too: either way this subscriber
            // did not get them, and the next `.dropped` event says so.
            let lost = if case .gap(let missed) = ring[head] { missed } else { 1 }
            unreportedDrops += lost
            totalDrops += lost
            head = (head + 1) % capacity
            count -= 1
        }
        ring[(head + count) % capacity] = event
        count += 1
    }

    /// The next event: a pending drop report first, then the oldest held.
    mutating func pop() -> TelemetryEvent? {
        if unreportedDrops > 0 {
            defer { unreportedDrops = 0 }
            return .dropped(count: unreportedDrops)
        }
        guard count > 0 else { return nil }
        defer {
            head = (head + 1) % ring.count
            count -= 1
        }
        return ring[head]
    }

}

/// Keeps a subscriber registered while any copy of its subscription lives.
final class SubscriptionHandle: Sendable {
    let hub: TelemetryHub
    let subscriber: Subscriber
    init(hub: TelemetryHub, subscriber: Subscriber) {
        self.hub = hub
        self.subscriber = subscriber
    }
    deinit { hub.remove(subscriber) }
}

/// A stream of telemetry events for one subscriber. Iterate it from one
/// task at a time.
public struct TelemetrySubscription: AsyncSequence, Sendable {
    public typealias Element = TelemetryEvent
    let handle: SubscriptionHandle

    /// Samples this subscriber has lost by falling behind, in all.
    public var droppedCount: Int { handle.subscriber.totalDrops }

    /// Unsubscribes now; iteration ends after the events already held.
    public func cancel() { handle.hub.remove(handle.subscriber) }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let handle: SubscriptionHandle

        public mutating func next() async -> TelemetryEvent? {
            let subscriber = handle.subscriber
            let hub = handle.hub
            return await withTaskCancellationHandler {
                await withUnsafeContinuation { (continuation: UnsafeContinuation<TelemetryEvent?, Never>) in
                    let ready: TelemetryEvent?? = subscriber.state.withLock { s in
                        if let event = s.pop() { return .some(event) }
                        if s.finished { return .some(nil) }
                        s.waiter = continuation
                        return nil
                    }
                    if let ready { continuation.resume(returning: ready) }
                }
            } onCancel: {
                hub.remove(subscriber)
            }
        }
    }
}
