/// Hands out request sequence numbers (docs/PROTOCOL.md §4.2): 1...0xFFFF
/// in rising order, wrapping, never 0 (unsolicited frames) and never
/// `probe`. A number that `isTaken` says is still in use, because its
/// request may still be answered, is skipped, so one number never stands for
/// two requests at once. The driver's request engine and the sharing
/// daemon's sequence rewriting both allocate here.
public struct SequenceAllocator: Sendable {
    /// The identity probe's number: a freshly opened port has no caller yet,
    /// and no caller is ever given this number, so a late answer to a probe
    /// that gave up can never complete a caller's request.
    public static let probe: UInt16 = 0xFFFE
    /// How many numbers there are to hand out.
    public static let capacity = Int(UInt16.max) - 1

    @usableFromInline var next: UInt16 = 1

    /// `next` is where the numbers start (1 unless a test wants the wrap near).
    public init(next: UInt16 = 1) { self.next = next }

    /// The next number that is not a key of `held` (the numbers in use);
    /// nil when every one is.
    @inlinable
    public mutating func allocate<Value>(notIn held: [UInt16: Value]) -> UInt16? {
        var seq = next
        for _ in 0...Int(UInt16.max) {
            if seq != 0 && seq != SequenceAllocator.probe && held[seq] == nil {
                next = seq &+ 1
                return seq
            }
            seq &+= 1
        }
        return nil
    }
}
