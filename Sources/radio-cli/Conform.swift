import ArgumentParser
import FoundationEssentials
import Glibc
import RadioConformance
import RadioDriver
import RadioIO
import RadioProtocol

/// `radio-cli conform`: the conformance suite of docs/PROTOCOL.md §12
/// against any port, for a firmware engineer bringing up a board.
struct Conform: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conform",
        abstract: "Check a radio against the protocol spec: a pass/fail table, case by case.",
        discussion: """
            Runs the conformance suite of docs/PROTOCOL.md §12 against the radio on --port: \
            Identify and every request, byte-for-byte answers where the spec fixes the bytes, \
            the ends of the ranges Identify gives, malformed, unknown, wrong-version, corrupt, \
            byte-at-a-time, pipelined and noise-surrounded requests, answer times and \
            telemetry. It reads the radio's power, channel and telemetry rate first and puts \
            them back at the end. --timeout is how long a case waits for an answer (at least \
            2 s; only the response-time cases judge speed). Each case names its section of the spec; answers are read \
            leniently (any sequence number, any CRC) so that a radio that breaks one rule \
            fails that rule's case, not every case.

            Exit status: 0 when every MUST case passes (failed SHOULD cases are warnings), 65 \
            when one does not, and the usual statuses when the port does not open.
            """ + examples(["radio-cli conform --port /dev/ttyUSB0", "radio-cli conform --port qemu --only ping,crc",
                            "radio-cli conform --port tcp://lab-pc:2000 --json"]))
    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp("Cases to run, comma-separated (default: all): "
                                   + ConformanceSuite.cases.map(\.name).joined(separator: ", ") + ".", valueName: "cases"),
            transform: Conform.caseList)
    var only: CaseList?

    struct CaseList: Sendable {
        let names: Set<String>
    }

    static func caseList(_ text: String) throws -> CaseList {
        let names = text.split(separator: ",").map(String.init)
        guard !names.isEmpty else { throw ValidationError("the list of cases is empty") }
        let known = Set(ConformanceSuite.cases.map(\.name))
        if let unknown = names.first(where: { !known.contains($0) }) {
            throw ValidationError("unknown case '\(unknown)' (known: \(ConformanceSuite.cases.map(\.name).joined(separator: ", ")))")
        }
        return CaseList(names: Set(names))
    }

    func run() async throws {
        let address: PortAddress
        let transport: any RadioTransport
        do throws(RadioError) {
            address = try global.address()
            transport = try global.openTransport(address)
        } catch {
            throw Failure(error)
        }
        defer { transport.close() }
        // Line time is subtracted only on a real serial line: a pty (a
        // simulator, QEMU) has no line rate, whatever --baud says.
        let device = address.port.devicePath().map(PortUsers.resolved)
        let baud = device.map { !$0.hasPrefix("/dev/pts/") } == true ? address.baud : nil
        let only = self.only?.names, patience = global.deadline
        // The suite blocks on the port: on a thread of its own, not the cooperative pool.
        let (results, identity) = await withCheckedContinuation { (done: CheckedContinuation<([CaseResult], Identity?), Never>) in
            startThread(name: "radio-conform") {
                let suite = ConformanceSuite(link: RawLink(transport: transport), baud: baud, patience: patience)
                let results = suite.run(only: only)
                done.resume(returning: (results, suite.identity))
            }
        }
        let failed = results.filter(\.isFailure).count, warnings = results.filter(\.isWarning).count
        let passed = results.filter { $0.outcome.word == "pass" }.count
        let skipped = results.filter { $0.outcome.word == "skipped" }.count
        if global.json {
            JSON.emit(ConformJSON(
                port: global.resolvedPort, model: identity?.model, serial_number: identity?.serialNumber,
                firmware_version: identity?.firmwareVersion,
                cases: results.map { r in
                    ConformJSON.Case(name: r.conformanceCase.name, section: r.conformanceCase.section,
                                     requirement: r.conformanceCase.requirement.rawValue, result: r.outcome.word,
                                     detail: Conform.detail(r.outcome), summary: r.conformanceCase.summary)
                },
                passed: passed, failed: failed, warnings: warnings, skipped: skipped))
        } else {
            print("radio-cli conform: \(transport.name)" + (identity.map { ": \($0.model), serial \($0.serialNumber), firmware \($0.firmwareVersion)" } ?? ""))
            let width = results.map(\.conformanceCase.name.count).max() ?? 4
            print(leftAligned("case", width) + "  section  level   result   detail")
            for r in results {
                let c = r.conformanceCase
                let result = r.isWarning ? "WARN" : r.isFailure ? "FAIL" : r.outcome.word
                print(leftAligned(c.name, width) + "  " + leftAligned("§" + c.section, 7) + "  " + leftAligned(c.requirement.rawValue, 6)
                      + "  " + leftAligned(result, 7) + "  " + (Conform.detail(r.outcome) ?? c.summary))
            }
            print("\(results.count) case\(results.count == 1 ? "" : "s"): \(passed) passed, \(failed) failed (MUST), \(warnings) warning\(warnings == 1 ? "" : "s") (SHOULD)"
                  + (skipped > 0 ? ", \(skipped) skipped" : ""))
        }
        if failed > 0 { throw Failure("\(failed) MUST case\(failed == 1 ? "" : "s") failed", status: 65) }
    }

    static func detail(_ outcome: Outcome) -> String? {
        switch outcome {
        case .pass: nil
        case .measured(let what), .fail(let what), .skipped(let what): what
        }
    }
}

/// `conform --json`.
struct ConformJSON: Encodable {
    struct Case: Encodable {
        let name: String
        let section: String
        let requirement: String
        let result: String
        let detail: String?
        let summary: String
    }
    let port: String
    let model: String?
    let serial_number: String?
    let firmware_version: String?
    let cases: [Case]
    let passed: Int
    let failed: Int
    let warnings: Int
    let skipped: Int
}
