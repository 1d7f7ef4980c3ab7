/// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, xorout 0x0000.
///
/// The check value (the CRC of the ASCII bytes "123456789") is `0x29B1`.
/// docs/PROTOCOL.md §3 names this CRC as the frame check sequence.
public enum CRC16 {
    /// The check value of the ASCII string "123456789".
    public static let checkValue: UInt16 = 0x29B1
    public static let initial: UInt16 = 0xFFFF

    @usableFromInline
    static let table: [UInt16] = (0..<256).map { byte in
        var crc = UInt16(byte) << 8
        for _ in 0..<8 {
            crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }

    /// Folds one byte into a running CRC.
    @inlinable
    public static func update(_ crc: UInt16, _ byte: UInt8) -> UInt16 {
        let index = Int(UInt8(truncatingIfNeeded: crc >> 8) ^ byte)
        return (crc << 8) ^ table.withUnsafeBufferPointer { $0[index] }
    }

    /// The CRC of a whole byte sequence.
    @inlinable
    public static func checksum<S: Sequence>(_ bytes: S) -> UInt16 where S.Element == UInt8 {
        var crc = initial
        for byte in bytes { crc = update(crc, byte) }
        return crc
    }
}
