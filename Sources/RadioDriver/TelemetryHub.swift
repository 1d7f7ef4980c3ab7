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
    /// The link to the radio was lost (`reason` says how); samples resume
    /// when the client has reconnected. How many were lost meanwhile is
    /// unknown: the radio's sequence numbers restart or jump.
    case disconnected(reason: String)
    /// The link is back after a `.disconnected`: the port reopened (the
    /// same radio, when its identity was known), or the daemon has its
    /// radio again. The radio may have restarted at its power-on settings.
    case reconnected
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
/// One thread publishes (the client's reader). Each subscriber has a fixed
/// ring buffer, made when it subscribes and held inline in the hub's table,
/// so a publish never allocates and costs one lock plus one filtered store
/// per subscriber. A subscriber that falls behind loses its oldest samples,
/// and is told how many, instead of slowing the publisher, the other
/// subscribers, or command replies: a reader holds the lock only to take
/// one event.
public final class TelemetryHub: Sendable {
    struct State {
        var slots: ContiguousArray<Slot> = []
        /// Subscriber id → index in `slots`.
        var index: [Int: Int] = [:]
        var nextID = 0
        /// Slots not yet finished: what `subscriberCount` reports.
        var active = 0
        /// The last telemetry sequence number published, for gap detection;
        /// -1 until the first sample after the first subscriber.
        var lastSequence = -1
    }
    let state = Locked(State())
    /// Read without the lock so that a publish with no subscribers costs
    /// one atomic load.
    private let count = Atomic<Int>(0)

    public init() {}

    /// The number of live subscriptions.
    public var subscriberCount: Int { count.load(ordering: .relaxed) }

    /// Adds a subscriber. Cancelling the task that iterates it, calling
    /// `cancel()`, or dropping every copy of it unsubscribes.
    public func subscribe(_ filter: TelemetryFilter = TelemetryFilter()) -> TelemetrySubscription {
        var slot = Slot(filter: filter)  // the ring is allocated here, not in publish
        let id = state.withLock { s in
            if s.slots.isEmpty { s.lastSequence = -1 }
            let id = s.nextID
            s.nextID += 1
            slot.id = id
            s.index[id] = s.slots.count
            s.slots.append(slot)
            s.active += 1
            count.store(s.active, ordering: .relaxed)
            return id
        }
        return TelemetrySubscription(handle: SubscriptionHandle(hub: self, id: id))
    }

    /// Hands a sample to every subscriber. Called by one thread at a time.
    public func publish(_ sample: TelemetrySample) {
        if count.load(ordering: .relaxed) == 0 { return }
        state.withLock { s in
            let missed = s.lastSequence < 0 ? 0 : Int(sample.sequence &- UInt16(truncatingIfNeeded: s.lastSequence) &- 1)
            s.lastSequence = Int(sample.sequence)
            for i in s.slots.indices {
                s.slots[i].offer(sample, missed: missed)
            }
        }
    }

    /// Tells every subscriber the link was lost; the next sample starts a
    /// new sequence (no `.gap` is computed across the outage).
    public func linkLost(_ reason: String) {
        state.withLock { s in
            s.lastSequence = -1
            for i in s.slots.indices { s.slots[i].mark(.disconnected(reason: reason)) }
        }
    }

    /// Tells every subscriber the link is back after `linkLost`.
    public func linkBack() {
        state.withLock { s in
            for i in s.slots.indices { s.slots[i].mark(.reconnected) }
        }
    }

    /// Ends every subscription: each stream finishes after the events it
    /// holds. Used when the client closes.
    public func finishAll() {
        state.withLock { s in
            for i in s.slots.indices { s.slots[i].finish() }
            s.active = 0
            count.store(0, ordering: .relaxed)
        }
    }

    /// Removes a subscriber; a reader waiting on it gets the end of the stream.
    func remove(_ id: Int) {
        state.withLock { s in
            guard let i = s.index.removeValue(forKey: id) else { return }
            if !s.slots[i].finished { s.active -= 1 }
            s.slots[i].finish()
            // Swap-remove keeps removal O(1); the moved slot's index changes.
            let last = s.slots.count - 1
            if i != last {
                s.slots.swapAt(i, last)
                s.index[s.slots[i].id] = i
            }
            s.slots.removeLast()
            count.store(s.active, ordering: .relaxed)
        }
    }

    /// The next event for `id`, or nil when its stream has ended; when none
    /// is ready, stores `continuation` to be resumed by a publish.
    func next(_ id: Int, _ continuation: UnsafeContinuation<TelemetryEvent?, Never>) {
        let ready: TelemetryEvent?? = state.withLock { s in
            guard let i = s.index[id] else { return .some(nil) }
            if let event = s.slots[i].pop() { return .some(event) }
            if s.slots[i].finished { return .some(nil) }
            s.slots[i].waiter = continuation
            return nil
        }
        if let ready { continuation.resume(returning: ready) }
    }

    func droppedCount(_ id: Int) -> Int {
        state.withLock { s in s.index[id].map { s.slots[$0].totalDrops } ?? 0 }
    }
}

/// One subscriber: its filter, its ring buffer, and a reader waiting on it.
struct Slot {
    var id = -1
    let filter: TelemetryFilter
    let minimumSpacingMillis: UInt32
    /// The ring's capacity: `filter.bufferSize`, so that a full buffer drops
    /// exactly where the subscriber asked.
    let capacity: Int
    var ring: [TelemetryEvent]
    /// Storage is a power of two, so indices wrap with a mask.
    let mask: Int
    var head = 0
    var count = 0
    /// Dropped since the subscriber last saw a `.dropped` event.
    var unreportedDrops = 0
    var totalDrops = 0
    var waiter: UnsafeContinuation<TelemetryEvent?, Never>?
    var finished = false
    var lastDelivered: TelemetrySample?

    init(filter: TelemetryFilter) {
        self.filter = filter
        minimumSpacingMillis = filter.maxRate.map { $0 > 0 ? UInt32(min(1000 / $0, 86_400_000)) : 0 } ?? 0
        capacity = filter.bufferSize
        var storage = 1
        while storage < capacity { storage <<= 1 }
        ring = [TelemetryEvent](repeating: .dropped(count: 0), count: storage)
        mask = storage - 1
    }

    /// Filters, then buffers one sample or hands it to a waiting reader. No
    /// allocation: the ring exists and events are plain values.
    /// Buffers a marker event (no filtering) and wakes a waiting reader.
    mutating func mark(_ event: TelemetryEvent) {
        if finished { return }
        push(event)
        if let waiter, count > 0 || unreportedDrops > 0 {
            self.waiter = nil
            waiter.resume(returning: pop())
        }
    }

    mutating func offer(_ sample: TelemetrySample, missed: Int) {
        if finished { return }
        if missed > 0 { push(.gap(missed: missed)) }
        if wants(sample) {
            lastDelivered = sample
            push(.sample(sample))
        }
        if let waiter, count > 0 || unreportedDrops > 0 {
            self.waiter = nil
            // Resuming only schedules the reader's task; it runs after the
            // hub's lock is released.
            waiter.resume(returning: pop())
        }
    }

    /// Decimation by the radio's clock, the change filter, then the predicate.
    private func wants(_ sample: TelemetrySample) -> Bool {
        if let last = lastDelivered {
            if minimumSpacingMillis > 0 && sample.uptimeMillis &- last.uptimeMillis < minimumSpacingMillis { return false }
            if filter.fields != .all
                && TelemetryFields.changed(last.measurements, sample.measurements).isDisjoint(with: filter.fields) {
                return false
            }
        }
        return filter.predicate?(sample) ?? true
    }

    mutating func push(_ event: TelemetryEvent) {
        if count == capacity {
            // Drop the oldest and count it. A dropped `.gap` marker's
            // samples count as dropped too: either way this subscriber
            // did not get them, and the next `.dropped` event says so.
            let lost = if case .gap(let missed) = ring[head] { missed } else { 1 }
            unreportedDrops += lost
            totalDrops += lost
            head = (head + 1) & mask
            count -= 1
        }
        ring[(head + count) & mask] = event
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
            head = (head + 1) & mask
            count -= 1
        }
        return ring[head]
    }

    /// Marks the stream ended; a waiting reader (which only waits on an
    /// empty buffer) gets the end now.
    mutating func finish() {
        finished = true
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: nil)
        }
    }
}

/// Keeps a subscriber registered while any copy of its subscription lives.
final class SubscriptionHandle: Sendable {
    let hub: TelemetryHub
    let id: Int
    init(hub: TelemetryHub, id: Int) {
        self.hub = hub
        self.id = id
    }
    deinit { hub.remove(id) }
}

/// A stream of telemetry events for one subscriber. Iterate it from one
/// task at a time.
public struct TelemetrySubscription: AsyncSequence, Sendable {
    public typealias Element = TelemetryEvent
    let handle: SubscriptionHandle

    /// Samples this subscriber has lost by falling behind, in all, while
    /// subscribed (0 once unsubscribed).
    public var droppedCount: Int { handle.hub.droppedCount(handle.id) }

    /// Unsubscribes now; iteration ends.
    public func cancel() { handle.hub.remove(handle.id) }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: handle) }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let handle: SubscriptionHandle

        public mutating func next() async -> TelemetryEvent? {
            let hub = handle.hub, id = handle.id
            return await withTaskCancellationHandler {
                await withUnsafeContinuation { hub.next(id, $0) }
            } onCancel: {
                hub.remove(id)
            }
        }
    }
}
