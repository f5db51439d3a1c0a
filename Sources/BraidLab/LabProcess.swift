import BraidKernel
import Foundation

/// A long-running program the lab started (dnsmasq, dhclient, dhcpcd), with its output collected
/// so a full pipe never blocks it. The lab kills it at teardown, whatever the test did.
public final class LabProcess: @unchecked Sendable {
    private let child: ChildProcess
    private let lines = LockedBox<[String]>([])
    public let name: String

    /// Runs `arguments` (argv, no shell) inside `namespace`.
    public init(lab: Lab, name: String, in namespace: NetworkNamespace, _ arguments: [String]) throws {
        self.name = name
        let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
        child = try ChildProcess(
            executable: ip, arguments: ["ip", "netns", "exec", namespace.name] + arguments, mergeError: true)
        let lines = self.lines
        child.forEachOutputLine { text in lines.update { $0.append(text) } }
        lab.onTeardown { [self] in kill() }
    }

    public var pid: Int32 { child.pid }
    public var isRunning: Bool { child.isRunning }
    public var output: String { lines.value.joined(separator: "\n") }

    public func signal(_ number: Int32) { child.signal(number) }

    /// Stops the process: SIGTERM (dhcpcd then stops its privilege-separation helpers too;
    /// neither client releases its lease on it), SIGKILL after two seconds; reaps it. Safe to call twice.
    public func kill() {
        guard child.isRunning else { return }
        child.signal(SIGTERM)
        let deadline = ContinuousClock.now + .seconds(2)
        while child.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if child.isRunning { child.signal(SIGKILL) }
        child.wait()
    }
}
