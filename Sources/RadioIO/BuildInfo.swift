import CRadioSystem

/// What `--version` says, for radio-cli and radio-sim alike.
public enum BuildInfo {
    /// The package's version: the project's releases.
    public static let version = "0.18.0"
    /// The git commit built from (`git describe --always --dirty`), or
    /// "unknown" when not built through the Makefile.
    public static var commit: String { String(cString: radio_build_commit()) }

    /// "radio-cli 0.18.0 (protocol 1, commit 1a2b3c4d5e6f)".
    public static func versionLine(_ tool: String, protocolVersion: UInt8) -> String {
        "\(tool) \(version) (protocol \(protocolVersion), commit \(commit))"
    }
}
