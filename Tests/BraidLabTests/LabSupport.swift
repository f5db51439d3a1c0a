import BraidConfig
import BraidDaemon
import BraidLab
import Foundation
import Testing

/// Lab tests need root for network namespaces. Elsewhere they are skipped with this reason;
/// under CI=true they always run, so a CI machine without root fails loudly instead of passing empty.
enum LabRequirement {
    static let isAvailable = geteuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true"
    static let reason: Comment = "lab tests build network namespaces and need root (they always run when CI=true)"
}

/// The `braid` executable built next to the test bundle.
enum BraidExecutable {
    static var path: String {
        get throws {
            let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            for directory in [bundle, bundle.deletingLastPathComponent()] {
                let candidate = directory.appendingPathComponent("braid").path
                if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            }
            let fromSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/braid").path
            if FileManager.default.isExecutableFile(atPath: fromSource) { return fromSource }
            throw LabError("the braid executable was not built next to the tests; run `swift build` first")
        }
    }
}

/// Binomial tolerance for a share observed over `trials`: `deviations` standard deviations.
/// 5 deviations make a false failure about one in 1.7 million runs.
func binomialTolerance(trials: Int, probability: Double, deviations: Double = 5) -> Double {
    deviations * (Double(trials) * probability * (1 - probability)).squareRoot()
}

extension Lab {
    /// Each long-lived flow (WAN name → flow) answers 10 more requests, all through its own WAN,
    /// and is stopped.
    func expectFlowsStayed(_ flows: [String: LongLivedFlow]) async {
        for (name, flow) in flows.sorted(by: { $0.key < $1.key }) {
            let before = flow.answersSoFar.count
            await flow.waitForAnswers(before + 10)
            let answers = flow.stop()
            #expect(
                answers.count >= before + 10 && countByWan(answers) == [name: answers.count],
                "the flow on \(name) moved or broke: \(countByWan(answers))")
        }
    }

    /// The running daemon's status document, read from its socket as `braid status` does; nil
    /// when no daemon answers.
    func daemonStatus() -> DaemonStatus? {
        StatusSocketServer.read(path: GatewayDaemon.statusSocketPath(stateDirectory: stateDirectory))
    }

    /// Waits until the daemon's status shows `wanName` in `state`, and returns that WAN's status.
    /// The daemon publishes a change (after applying it) before it logs it, so this does not
    /// depend on the log's wording.
    @discardableResult
    func waitForWan(_ wanName: String, _ state: WanState, timeout: Duration = .seconds(10)) async throws -> WanHealthStatus {
        let deadline = ContinuousClock.now + timeout
        var last: WanHealthStatus?
        while ContinuousClock.now < deadline {
            last = daemonStatus()?.wans.first { $0.name == wanName }
            if let last, last.state == state { return last }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw LabError(
            "the daemon's status did not show \(wanName) \(state.rawValue) within \(timeout); last: "
                + (last.map { "\($0.state.rawValue) (\($0.reason))" } ?? "no status"))
    }

    /// Counts answers per lab WAN name ("failed" for connections that got none).
    func countByWan(_ answers: [String]) -> [String: Int] {
        answers.reduce(into: [:]) { counts, answer in counts[wan(forPeer: answer)?.name ?? "failed", default: 0] += 1 }
    }

    /// Applies `yaml` on the router with the real CLI and expects success.
    @discardableResult
    func applyExpectingSuccess(_ yaml: String, file: String = "braid.yaml") throws -> String {
        let path = try writeFile(file, yaml)
        let result = try runBraid(try BraidExecutable.path, ["apply", "-c", path])
        // Stop the test here: everything after an apply that failed would only time out.
        guard result.status == 0 else { throw LabError("braid apply failed (exit \(result.status)): \(result.standardError)") }
        return result.standardOutput
    }
}
