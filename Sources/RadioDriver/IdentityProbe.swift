public import RadioProtocol

/// Asks whatever answers on a freshly opened port who it is, before any
/// caller uses the port: one Identify request and its reply, read with a
/// decoder of its own. A reconnecting transport uses it to make sure the
/// radio behind a path is still the one it was (see
/// `RadioTransport.expectSerialNumber(_:)`); the daemon, at start.
public enum IdentityProbe {
    /// The probe's sequence number (`SequenceAllocator.probe`), which no
    /// caller is ever given.
    public static let sequence: UInt16 = SequenceAllocator.probe

    public static func identify(_ transport: any RadioTransport,
                                timeout: Duration = .milliseconds(500)) throws(RadioError) -> Identity {
        var received = 0
        return try identify(transport, timeout: timeout, bytesReceived: &received)
    }

    /// The same, counting in `bytesReceived` every byte the port gave, so
    /// that a caller can tell a silent port from one that talks in some
    /// other protocol (or at another baud rate).
    public static func identify(_ transport: any RadioTransport, timeout: Duration,
                                bytesReceived: inout Int) throws(RadioError) -> Identity {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        // A lone delimiter first ends any line noise in the radio's decoder.
        var bytes: [UInt8] = [Frame.delimiter]
        Message.request(.identify).encode(sequence: sequence, into: &bytes)
        try transport.send(bytes, deadline: deadline)
        var decoder = FrameDecoder()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 1)
        defer { buffer.deallocate() }
        while true {
            let left = clock.now.duration(to: deadline)
            if left <= .zero { throw .timeout(.identify, timeout) }
            try transport.waitForInput(timeout: left)
            // Bounded per wake-up, so a peer that never stops sending
            // cannot hold the probe past its deadline.
            for _ in 0..<16 {
                let n = try transport.read(into: buffer)
                if n == 0 { break }
                bytesReceived += n
                var found: Identity?
                decoder.feedViews(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { event, _ in
                    guard found == nil, case .frame(let frame) = event, frame.sequence == sequence,
                          frame.type == Command.identify.rawValue | FrameType.responseFlag,
                          case .response(.ok(.identity(let identity)))? = try? Message(view: frame) else { return }
                    found = identity
                }
                if let found { return found }
            }
        }
    }
}
