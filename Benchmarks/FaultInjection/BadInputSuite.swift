import BraidKernel
import Foundation

/// Part 1: every bad input through `braid check` (some through `plan` or `run`), each with a
/// deadline, in a scratch network namespace so nothing can touch the host, and classified.
struct BadInputSuite {
    enum Verdict: String, Sendable {
        case rejectedCleanly = "rejected cleanly"
        /// Exit 2, but no `error:` line naming the problem, or raw control characters printed.
        case rejectedUncleanly = "rejected uncleanly"
        case accepted
        /// Accepted, but it is one of the inputs Braid must refuse.
        case shouldHaveBeenRejected = "should have been rejected"
        case crash
    }

    struct Outcome: Sendable {
        var input: BadInputCase
        var verdict: Verdict
        var result: TimedCommandResult
        var reason: String
    }

    static let timeout = Duration.seconds(10)
    /// An address-space limit for each run: a loader that reads /dev/zero to its end must crash
    /// here rather than take the shared machine's memory.
    static let addressSpaceLimit = 4 << 30

    let braid: String
    let namespace: String

    func run(_ cases: [BadInputCase], validConfigPath: String, progress: (Int, Int) -> Void) throws -> [Outcome] {
        // The harness's own control: the unmutated config must pass, or every "rejected" means nothing.
        let control = try execute(BadInputCase(description: "control", path: validConfigPath))
        guard control.ending == .exited(0) else {
            throw CorpusError(
                "the valid base config does not pass `braid check` (\(control.endingDescription)):\n\(control.text)")
        }
        var outcomes: [Outcome] = []
        for (index, input) in cases.enumerated() {
            progress(index, cases.count)
            let outcome = try classify(input, try execute(input))
            outcomes.append(outcome)
            // What `check` accepted goes through the planner as well.
            if input.command == .check, outcome.verdict == .accepted || outcome.verdict == .shouldHaveBeenRejected {
                var planned = input
                planned.command = .plan
                planned.description += " (plan)"
                outcomes.append(try classify(planned, try execute(planned)))
            }
        }
        return outcomes
    }

    func execute(_ input: BadInputCase) throws -> TimedCommandResult {
        var arguments = ["prlimit", "--as=\(Self.addressSpaceLimit)", "--", "ip", "netns", "exec", namespace]
        if input.asNobody { arguments += ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] }
        arguments += [braid, input.command.rawValue, "-c", input.path] + input.extraArguments
        return try TimedCommand.run(arguments, timeout: Self.timeout)
    }

    func classify(_ input: BadInputCase, _ result: TimedCommandResult) throws -> Outcome {
        switch result.ending {
        case .timedOut, .signalled:
            return Outcome(input: input, verdict: .crash, result: result, reason: result.endingDescription)
        case .exited(0):
            return Outcome(
                input: input, verdict: input.mustReject ? .shouldHaveBeenRejected : .accepted, result: result, reason: "exit 0")
        case .exited(let status) where input.rejectionStatuses.contains(status):
            let lines = result.text.split(separator: "\n")
            if let byte = result.output.first(where: { ($0 < 0x20 && $0 != 0x0a && $0 != 0x09) || $0 == 0x7f }) {
                return Outcome(
                    input: input, verdict: .rejectedUncleanly, result: result,
                    reason: String(format: "the output contains the raw control character 0x%02x", byte))
            }
            guard lines.contains(where: { $0.hasPrefix("error: ") }) else {
                return Outcome(input: input, verdict: .rejectedUncleanly, result: result, reason: "no `error:` line")
            }
            let text = result.text.lowercased()
            guard input.names.isEmpty || input.names.contains(where: { text.contains($0.lowercased()) }) else {
                return Outcome(
                    input: input, verdict: .rejectedUncleanly, result: result,
                    reason: "the error names none of \(input.names)")
            }
            return Outcome(input: input, verdict: .rejectedCleanly, result: result, reason: "exit \(status)")
        case .exited:
            return Outcome(input: input, verdict: .crash, result: result, reason: result.endingDescription)
        }
    }

    /// The first line of output, shortened and with control characters made visible.
    static func excerpt(_ result: TimedCommandResult, limit: Int = 160) -> String {
        let lines = result.text.split(separator: "\n", omittingEmptySubsequences: true)
        // The first line is usually "error: PATH: invalid" or "…: N problems"; the problem is on the next one.
        let isHeader = lines.first.map { $0.hasSuffix(": invalid") || $0.hasSuffix(" problems") } ?? false
        let shown = visible(String(lines.count > 1 && isHeader ? lines[1] : lines.first ?? ""))
        return shown.count > limit ? String(shown.prefix(limit - 1)) + "…" : shown
    }
}
