// Generated from docs/vectors.json by scripts/conform-vectors.py; do not edit.
// `make test` checks that it matches (scripts/conform-vectors.py --check).

/// Every request vector of docs/vectors.json, for `conform` to replay.
enum ConformanceVectors {
    /// Name, wire bytes (hex), and the error the request carries ("" for none).
    static let requests: [(name: String, wire: String, error: String)] = [
        ("Identify request", "040101010375f600", ""),
        ("SetPower 12.5 dBm", "04010202027d035e9c00", ""),
        ("SetPower -3.0 dBm", "0401020305e2ffcffc00", ""),
        ("SetChannel 42", "04010305022a030af000", ""),
        ("SetChannel 256 (zero byte in payload)", "04010306010401da9200", ""),
        ("GetState request", "040104070323b700", ""),
        ("Ping empty", "04010508032d9000", ""),
        ("Ping with zeros and 0xFF", "040105090102ff0105ff01c8e900", ""),
        ("SetTelemetryRate 100 Hz", "0401060a026403702900", ""),
        ("Sequence 0xFFFF", "080105ffffab05cf00", ""),
        ("Ping, 249-byte payload (largest frame)", "0401050dfc0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f91e5800", ""),
        ("SetPower with a 1-byte payload", "040102010405a03100", "malformed_payload"),
        ("SetChannel with a 3-byte payload", "04010301020101032e1a00", "malformed_payload"),
        ("Identify with a payload", "040101010103d9fa00", "malformed_payload"),
        ("unknown request type 0x3F", "04013f0103d12800", "unknown_type"),
        ("protocol version 2", "0402010103a96d00", "unsupported_version"),
        ("Ping with a 250-byte payload", "04010501fd0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fa05ad00", "malformed_payload"),
    ]
}
