import Foundation
import Testing

/// performance-reports/index.html in a real headless Chromium (Debian's
/// `chromium`, which `make test` installs): Tests/dashboard/check_dashboard.py
/// draws the page from a made-up history with a change of method and two
/// regressions, loads it over the DevTools protocol and checks the console,
/// the network, every benchmark's charts on a full-page screenshot, the
/// highlighted regressions and the "only failing" switch.
@Suite("Performance dashboard")
struct DashboardTests {
    @Test func thePageLoadsCleanAndShowsEveryBenchmarksCharts() async throws {
        let browser = "/usr/lib/chromium/chromium"
        try #require(FileManager.default.isExecutableFile(atPath: browser), "chromium missing: make test installs it")
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let shot = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-\(UUID().uuidString).png")
        defer { try? FileManager.default.removeItem(at: shot) }
        let r = try await runProgram("/usr/bin/python3", [root.appendingPathComponent("dashboard/check_dashboard.py").path,
                                                         browser, shot.path], limit: .seconds(120))
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
                                  "\(r.stdout)\(r.stderr)")
        let cards = try #require(report["cards"] as? Int)
        #expect(cards >= 20, "\(r.stdout)")
        #expect(report["inked"] as? Int == cards, "\(r.stdout)")
        #expect((report["console_errors"] as? [String])?.isEmpty == true, "\(r.stdout)")
        #expect(report["failing"] as? [String] == ["SetPower/loopback", "SetPower/pty"], "\(r.stdout)")
        #expect(FileManager.default.fileExists(atPath: shot.path))
    }
}
