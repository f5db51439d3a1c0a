import BraidKernel
import BraidLab
import Foundation

/// The fault-injection suite: bad inputs for `braid check`/`plan`/`run`, and kernel and daemon
/// faults in a 3-WAN namespace lab while `braid run` is in charge. Prints what it tried and what
/// happened; exits 1 if anything crashed, a must-reject input was accepted, a rejection was not
/// clean, or a fault was not recovered from without `braid down`.
///
/// Run as root: `swift build && .build/debug/fault-injection [--braid PATH] [--only inputs|faults] [--keep-corpus]`.
@main
struct FaultInjection {
    static func main() async throws {
        var arguments = Array(CommandLine.arguments.dropFirst())
        var braid: String?
        var only: String?
        var keepCorpus = false
        while let argument = arguments.first {
            arguments.removeFirst()
            switch argument {
            case "--braid": braid = arguments.isEmpty ? nil : arguments.removeFirst()
            case "--only": only = arguments.isEmpty ? nil : arguments.removeFirst()
            case "--keep-corpus": keepCorpus = true
            case "-h", "--help":
                print("usage: fault-injection [--braid PATH] [--only inputs|faults] [--keep-corpus]  (as root)")
                return
            default:
                if braid == nil && !argument.hasPrefix("-") {
                    braid = argument
                } else {
                    print("error: unknown argument \(argument)")
                    exit(2)
                }
            }
        }
        guard only == nil || only == "inputs" || only == "faults" else {
            print("error: --only takes inputs or faults")
            exit(2)
        }
        let binary = braid.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? defaultBraidPath()
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            print("error: no braid executable at \(binary); run `swift build` first or pass --braid PATH")
            exit(1)
        }
        guard geteuid() == 0 else {
            print("error: the fault-injection suite needs root (network namespaces)")
            exit(1)
        }
        Cleanup.installSignalHandlers()
        print("Fault injection against \(binary)")
        var failed = false
        var summary: [String] = []
        if only != "faults" {
            let (line, ok) = try runBadInputs(braid: binary, keepCorpus: keepCorpus)
            summary.append(line)
            failed = failed || !ok
        }
        if only != "inputs" {
            let (line, ok) = try await runFaults(braid: binary)
            summary.append(line)
            failed = failed || !ok
        }
        print("")
        for line in summary { print(line) }
        Cleanup.runAll()
        exit(failed ? 1 : 0)
    }

    /// The `braid` built next to this executable (`.build/debug`), else the repository's debug build.
    static func defaultBraidPath() -> String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("braid")
            .path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return FileManager.default.currentDirectoryPath + "/.build/debug/braid"
    }

    // MARK: - Part 1

    static func runBadInputs(braid: String, keepCorpus: Bool) throws -> (String, Bool) {
        let directory = NSTemporaryDirectory() + "braid-fault-corpus-\(getpid())"
        let namespace = "braid\(getpid())fi-scratch"
        Cleanup.add {
            _ = try? ProcessCommandRunner().run(["ip", "netns", "del", namespace])
            if !keepCorpus {
                chmod(directory, 0o700)
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
        defer { Cleanup.runAll() }
        try ProcessCommandRunner().check(["ip", "netns", "add", namespace])
        let corpus = try BadInputCorpus(directory: directory)
        print("")
        print(
            "Part 1: bad inputs — \(corpus.cases.count) files in \(directory)\(keepCorpus ? " (kept)" : ""), each run with a \(BadInputSuite.timeout) deadline"
        )
        let suite = BadInputSuite(braid: braid, namespace: namespace)
        let outcomes = try suite.run(corpus.cases, validConfigPath: corpus.validConfigPath) { index, total in
            if index % 50 == 0 { print("  … \(index)/\(total)") }
        }
        let count = { (verdict: BadInputSuite.Verdict) in outcomes.filter { $0.verdict == verdict }.count }
        for verdict in [BadInputSuite.Verdict.crash, .shouldHaveBeenRejected, .rejectedUncleanly, .accepted] {
            let matching = outcomes.filter { $0.verdict == verdict }
            guard !matching.isEmpty else { continue }
            print("")
            print("  \(verdict.rawValue) (\(matching.count)):")
            for outcome in matching {
                let file = outcome.input.path.isEmpty ? "\"\"" : (outcome.input.path as NSString).lastPathComponent
                var line = "    \(outcome.input.command.rawValue) \(file): \(outcome.input.description)"
                if verdict != .accepted { line += " — \(outcome.reason)" }
                print(line)
                if verdict == .crash || verdict == .rejectedUncleanly {
                    let excerpt = BadInputSuite.excerpt(outcome.result)
                    if !excerpt.isEmpty { print("        output (control characters shown as \\xNN): \(excerpt)") }
                }
            }
        }
        let crashes = count(.crash), unclean = count(.rejectedUncleanly), should = count(.shouldHaveBeenRejected)
        var line =
            "bad inputs: \(outcomes.count) tried, \(count(.rejectedCleanly)) rejected cleanly, "
            + "\(count(.accepted) + should) accepted, \(crashes) crashes"
        if should > 0 { line += " (\(should) accepted that should have been rejected)" }
        if unclean > 0 { line += ", \(unclean) rejected uncleanly" }
        return (line, crashes == 0 && unclean == 0 && should == 0)
    }

    // MARK: - Part 2

    static func runFaults(braid: String) async throws -> (String, Bool) {
        print("")
        print(
            "Part 2: kernel and daemon faults in a 3-WAN lab under `braid run --resync-interval \(KernelFaultSuite.resyncInterval)`"
        )
        let lab = try Lab(wanCount: 3, name: "fault")
        Cleanup.add { lab.teardown() }
        defer { Cleanup.runAll() }
        let suite = try await KernelFaultSuite(lab: lab, braid: braid)
        var outcomes: [KernelFaultSuite.Outcome] = []
        for fault in KernelFaultSuite.all {
            let outcome = await suite.run(fault)
            outcomes.append(outcome)
            let time = outcome.recoveryTime.map(KernelFaultSuite.format) ?? "-"
            print("  (\(outcome.letter)) \(outcome.name)")
            print(
                "      injected: \(outcome.injected ? "yes" : "no"), recovered: \(outcome.recovered ? "yes" : "NO"), back to reference after: \(time), "
                    + "flows lost on healthy WANs: \(outcome.flowsLost) of \(outcome.flowsOpened)")
            for note in outcome.notes {
                print("      " + note.replacingOccurrences(of: "\n", with: "\n        "))
            }
        }
        let stopped = await suite.daemon.stop()
        print("")
        print("  fault  recovered  time     flows lost")
        for outcome in outcomes {
            print(
                "  (\(outcome.letter))    "
                    + (outcome.recovered ? "yes" : "NO ").padding(toLength: 11, withPad: " ", startingAt: 0)
                    + (outcome.recoveryTime.map(KernelFaultSuite.format) ?? "-").padding(toLength: 9, withPad: " ", startingAt: 0)
                    + "\(outcome.flowsLost)/\(outcome.flowsOpened)")
        }
        if stopped != 0 { print("  the daemon exited \(stopped) on SIGTERM at the end") }
        let injected = outcomes.filter(\.injected).count
        let recovered = outcomes.filter(\.recovered).count
        let lost = outcomes.map(\.flowsLost).reduce(0, +)
        let line =
            "faults: \(injected) injected, \(recovered) recovered without braid down, \(lost) connections lost on healthy WANs"
        return (line, recovered == outcomes.count && lost == 0 && injected == outcomes.count)
    }
}

/// What must be undone on every way out: namespaces, the lab's processes, the corpus. Also run on
/// SIGINT, SIGTERM and SIGHUP, so an interrupted run leaves nothing behind.
enum Cleanup {
    private static let actions = LockedBox<[@Sendable () -> Void]>([])
    nonisolated(unsafe) static var signalPipe: Int32 = -1

    static func add(_ action: @escaping @Sendable () -> Void) { actions.update { $0.append(action) } }

    /// Runs every registered action once, newest first.
    static func runAll() {
        RunningChildren.killAll()
        let pending = actions.update { list -> [@Sendable () -> Void] in
            defer { list = [] }
            return list
        }
        for action in pending.reversed() { action() }
    }

    /// A handler (not SIG_IGN, which children would inherit through exec: the daemon must still
    /// see its SIGHUP and SIGTERM) that wakes a thread through a pipe; the thread cleans up.
    static func installSignalHandlers() {
        var descriptors: [Int32] = [0, 0]
        guard pipe(&descriptors) == 0 else { return }
        signalPipe = descriptors[1]
        _ = fcntl(descriptors[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(descriptors[1], F_SETFD, FD_CLOEXEC)
        let reader = descriptors[0]
        Thread.detachNewThread {
            var number: Int32 = 0
            while read(reader, &number, MemoryLayout<Int32>.size) < 0 && errno == EINTR {}
            print("\ninterrupted (signal \(number)): cleaning up")
            runAll()
            exit(130)
        }
        for number in [SIGINT, SIGTERM, SIGHUP] {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { received in
                var value = received
                _ = write(Cleanup.signalPipe, &value, MemoryLayout<Int32>.size)
            }
            sigaction(number, &action, nil)
        }
    }
}
