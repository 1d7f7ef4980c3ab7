import ArgumentParser
import RadioBench
import RadioDaemon
import RadioDriver

// Typed option values: each parses and checks itself, so a bad value is a
// usage error naming the problem before any I/O, and the commands get
// values, not strings.

/// A comma-separated list of names from a fixed set: `--fields rssi,snr`,
/// `--command set-power,get-state`.
struct NameList<Name: RawRepresentable & CaseIterable & Sendable>: Sendable where Name.RawValue == String {
    let names: [Name]

    static func parser(_ what: String) -> @Sendable (String) throws -> NameList {
        { text in
            guard !text.split(separator: ",").isEmpty else { throw ValidationError("the list of \(what)s is empty") }
            return try NameList(names: text.split(separator: ",").map { raw in
                let name = String(raw.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
                guard let value = Name(rawValue: name) else {
                    throw ValidationError("unknown \(what) '\(name)' (known: \(known))")
                }
                return value
            })
        }
    }

    static var known: String { Name.allCases.map(\.rawValue).joined(separator: ", ") }
}

/// One name from a fixed set, with the option's name in the error.
func oneOf<Name: RawRepresentable & CaseIterable>(_ option: String) -> @Sendable (String) throws -> Name
    where Name.RawValue == String {
    { text in
        guard let value = Name(rawValue: text) else {
            throw ValidationError("unknown \(option) '\(text)' (known: \(Name.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return value
    }
}

/// `--port`: a port string the scheme table accepts.
struct PortArgument: Sendable {
    let text: String

    static func parse(_ text: String) throws -> PortArgument {
        do {
            _ = try portSchemes.parse(text)
        } catch {
            throw ValidationError(error.description)
        }
        return PortArgument(text: text)
    }
}

/// `--listen`: HOST:PORT or unix:PATH.
func parseListenAddress(_ text: String) throws -> ListenAddress {
    do {
        return try ListenAddress(parsing: text)
    } catch {
        throw ValidationError(error.description)
    }
}
