import BraidKernel
import BraidLab
import Foundation

/// One program run with a deadline: its merged output as raw bytes (so control characters it
/// printed can be seen), and how it ended. A program still running at the deadline is killed.
struct TimedCommandResult: Sendable {
    enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
    }

    var ending: Ending
    var output: [UInt8]
    var elapsed: Duration

    var text: String { String(decoding: output, as: UTF8.self) }

    var endingDescription: String {
        switch ending {
        case .exited(let status): "exit \(status)"
        case .signalled(let number): "killed by signal \(number)"
        case .timedOut: "still running after the deadline (killed)"
        }
    }
}

enum TimedCommand {
    /// Output beyond this is dropped: a program that prints without end must not fill memory.
    static let outputLimit = 1 << 20

    /// Runs `arguments` (argv[0] is looked up in the usual directories) and waits at most `timeout`.
    static func run(_ arguments: [String], timeout: Duration) throws -> TimedCommandResult {
        let started = ContinuousClock.now
        let child = try ChildProcess(executable: executablePath(arguments[0]), arguments: arguments, mergeError: true)
        RunningChildren.add(child.pid)
        defer { RunningChildren.remove(child.pid) }
        let output = LockedBox<[UInt8]>([])
        let drained = DispatchSemaphore(value: 0)
        let descriptor = child.outputDescriptor
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                output.update { if $0.count < outputLimit { $0 += buffer[..<min(count, outputLimit - $0.count)] } }
            }
            close(descriptor)
            drained.signal()
        }
        let deadline = started + timeout
        var timedOut = false
        while child.isRunning {
            if ContinuousClock.now >= deadline {
                timedOut = true
                child.signal(SIGKILL)
                break
            }
            usleep(2_000)
        }
        let status = child.wait()
        // A grandchild that kept the pipe open must not hold the harness up.
        _ = drained.wait(timeout: .now() + 2)
        let ending: TimedCommandResult.Ending = timedOut ? .timedOut : status >= 128 ? .signalled(status - 128) : .exited(status)
        return TimedCommandResult(ending: ending, output: output.value, elapsed: ContinuousClock.now - started)
    }

    static func executablePath(_ name: String) -> String {
        guard !name.contains("/") else { return name }
        for directory in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        where FileManager.default.isExecutableFile(atPath: "\(directory)/\(name)") {
            return "\(directory)/\(name)"
        }
        return name
    }
}

/// Children in flight, so that an interrupted run kills them (a `braid check` blocked on a FIFO
/// would otherwise outlive the harness).
enum RunningChildren {
    private static let pids = LockedBox<Set<Int32>>([])
    static func add(_ pid: Int32) { pids.update { _ = $0.insert(pid) } }
    static func remove(_ pid: Int32) { pids.update { _ = $0.remove(pid) } }
    static func killAll() { for pid in pids.value { kill(pid, SIGKILL) } }
}

/// The processes whose parent is `pid`, with their command names and arguments, read from /proc.
func childProcesses(of pid: Int32) -> [(pid: Int32, name: String, arguments: [String])] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    return entries.compactMap { entry -> (pid: Int32, name: String, arguments: [String])? in
        guard let candidate = Int32(entry),
            let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
            let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state, ppid, …
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1, Int32(fields[1]) == pid else { return nil }
        let commandLine = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline"))) ?? Data()
        let arguments = commandLine.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return (candidate, String(stat[stat.index(after: open)..<close]), arguments)
    }
}

func processExists(_ pid: Int32) -> Bool { kill(pid, 0) == 0 || errno != ESRCH }
