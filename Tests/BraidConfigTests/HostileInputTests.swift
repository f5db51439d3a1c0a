import BraidConfig
import Foundation
import Testing

/// Inputs from the reliability review that crashed, hung or misled `braid check`: each must now
/// end in a clean `ConfigError` that names the key (and line) to fix.

/// One LAN and one WAN on lines 1-5, so the key under test is on line 6 or later.
private let baseYAML = """
    lan: { interfaces: [lan0] }
    wans:
      - name: isp1
        interface: wan1
        gateway: 192.0.2.1

    """

private func withTemporaryDirectory<Result>(_ body: (URL) throws -> Result) throws -> Result {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("braid-hostile-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory)
}

private func describe(_ issues: [ConfigIssue]) -> String {
    issues.map { "\($0.path) line \($0.line.map(String.init) ?? "nil"): \($0.message)" }.joined(separator: "\n")
}

@Suite struct HugeDurationTests {
    /// Int64(_:) trapped (SIGILL) on the milliseconds of a 20-digit number of seconds.
    @Test(arguments: ["interval", "timeout"])
    func hugeDurationIsOutOfRangeAtItsKey(_ key: String) throws {
        let error = try #require(rejection(of: baseYAML + """
                health:
                  targets: [192.0.2.1]
                  \(key): 99999999999999999999s
            """))
        let issue = error.issues.first { $0.path == "wans[0].health.\(key)" }
        #expect(issue?.line == 8, "\(describe(error.issues))")
        #expect(issue?.message.contains("out of range") == true, "\(describe(error.issues))")
    }

    /// The CLI's --resync-interval goes through the same parser.
    @Test(arguments: ["99999999999999999999s", "99999999999999999999ms", "99999999999999999999m", "86401s", "1441m"])
    func durationAboveTheMaximumIsTooLong(_ text: String) {
        #expect(DurationText.read(text) == .failure(.tooLong))
        #expect(DurationText.parse(text) == nil)
    }

    @Test func durationUpToTheMaximumIsRead() {
        #expect(DurationText.read("86400s") == .success(.seconds(86_400)))
        #expect(DurationText.read("1440m") == .success(.seconds(86_400)))
        #expect(DurationText.read("1.5s") == .success(.milliseconds(1500)))
        #expect(DurationText.read("12x") == .failure(.notADuration))
        #expect(DurationText.read("1e3s") == .failure(.notADuration))
    }
}
