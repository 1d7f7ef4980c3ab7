/// The telnet layer of RFC 2217 (serial-port control over telnet), sans I/O:
/// what to send to set the line up, IAC escaping of outgoing data, and a
/// decoder that strips telnet commands from incoming data and says what to
/// answer to the server's option negotiation.
struct Telnet {
    static let iac: UInt8 = 255, dont: UInt8 = 254, doOption: UInt8 = 253, wont: UInt8 = 252, will: UInt8 = 251
    static let sb: UInt8 = 250, se: UInt8 = 240
    static let binary: UInt8 = 0, suppressGoAhead: UInt8 = 3, comPortOption: UInt8 = 44

    /// RFC 2217 client-to-server subcommands.
    enum ComPort: UInt8 {
        case setBaudRate = 1, setDataSize = 2, setParity = 3, setStopSize = 4, setControl = 5
    }

    /// Doubles every 0xFF, as telnet requires of data bytes.
    static func escape<C: Collection>(_ bytes: C, into out: inout [UInt8]) where C.Element == UInt8 {
        for b in bytes {
            out.append(b)
            if b == iac { out.append(iac) }
        }
    }

    /// What the client sends on connect: binary mode both ways, no go-ahead,
    /// COM-PORT-OPTION, then 8N1 at `baud` and (unless `setControl` is
    /// false) no flow control. A server whose port has no such settings (a
    /// pty has no modem lines) may refuse some; nothing here waits for the
    /// answers, which the decoder consumes when they come.
    static func handshake(baud: Int, setControl: Bool) -> [UInt8] {
        var out: [UInt8] = [
            iac, will, binary, iac, doOption, binary,
            iac, will, suppressGoAhead, iac, doOption, suppressGoAhead,
            iac, will, comPortOption,
        ]
        func subnegotiation(_ command: ComPort, _ value: [UInt8]) {
            out += [iac, sb, comPortOption, command.rawValue]
            escape(value, into: &out)
            out += [iac, se]
        }
        let b = UInt32(clamping: baud)
        subnegotiation(.setBaudRate, [UInt8(b >> 24), UInt8(truncatingIfNeeded: b >> 16),
                                      UInt8(truncatingIfNeeded: b >> 8), UInt8(truncatingIfNeeded: b)])
        subnegotiation(.setDataSize, [8])
        subnegotiation(.setParity, [1])    // NONE
        subnegotiation(.setStopSize, [1])  // 1 stop bit
        if setControl { subnegotiation(.setControl, [1]) }  // no flow control
        return out
    }

    private enum State { case data, command, option(UInt8), subnegotiation, subnegotiationIAC }
    private var state = State.data
    /// Options we have already answered, so a server repeating itself gets
    /// no second answer (RFC 854's loop avoidance).
    private var answered: Set<[UInt8]> = []
    /// Subnegotiations the server sent (its answers to our settings).
    private(set) var serverSubnegotiations = 0

    /// Strips telnet commands from `buffer[0..<count]` in place and returns
    /// the data length; appends any answers owed to `replies`.
    mutating func decode(_ buffer: UnsafeMutableRawBufferPointer, count: Int, replies: inout [UInt8]) -> Int {
        var kept = 0
        for i in 0..<count {
            let byte = buffer[i]
            switch state {
            case .data:
                if byte == Telnet.iac { state = .command } else { buffer[kept] = byte; kept += 1 }
            case .command:
                switch byte {
                case Telnet.iac:
                    buffer[kept] = byte  // an escaped 0xFF data byte
                    kept += 1
                    state = .data
                case Telnet.doOption, Telnet.dont, Telnet.will, Telnet.wont:
                    state = .option(byte)
                case Telnet.sb:
                    state = .subnegotiation
                default:
                    state = .data  // NOP, GA and the like carry nothing for us
                }
            case .option(let verb):
                answer(verb, byte, into: &replies)
                state = .data
            case .subnegotiation:
                if byte == Telnet.iac { state = .subnegotiationIAC }
            case .subnegotiationIAC:
                if byte == Telnet.se {
                    serverSubnegotiations += 1
                    state = .data
                } else {
                    state = .subnegotiation  // IAC IAC inside: a data byte of the subnegotiation
                }
            }
        }
        return kept
    }

    /// Agrees to binary, suppress-go-ahead and the COM port option; refuses
    /// everything else. Answers each request once.
    private mutating func answer(_ verb: UInt8, _ option: UInt8, into replies: inout [UInt8]) {
        let wanted: Set<UInt8> = [Telnet.binary, Telnet.suppressGoAhead, Telnet.comPortOption]
        let reply: UInt8
        switch verb {
        case Telnet.doOption: reply = wanted.contains(option) ? Telnet.will : Telnet.wont
        case Telnet.will: reply = wanted.contains(option) ? Telnet.doOption : Telnet.dont
        case Telnet.dont: reply = Telnet.wont
        default: reply = Telnet.dont  // WONT
        }
        // What the handshake already said needs no answer.
        let alreadySaid: Set<[UInt8]> = [[Telnet.will, Telnet.binary], [Telnet.doOption, Telnet.binary],
                                          [Telnet.will, Telnet.suppressGoAhead], [Telnet.doOption, Telnet.suppressGoAhead],
                                          [Telnet.will, Telnet.comPortOption]]
        let key = [reply, option]
        if alreadySaid.contains(key) || answered.contains(key) { return }
        answered.insert(key)
        replies += [Telnet.iac, reply, option]
    }
}
