import BraidKernel
import Foundation

/// A named network namespace (`ip netns`) that the lab created and will delete.
public struct NetworkNamespace: Sendable, Hashable {
    public let name: String

    /// Runs programs inside this namespace.
    public var runner: NamespacedCommandRunner { NamespacedCommandRunner(namespace: name) }

    /// Runs a program inside the namespace and returns its standard output; throws on failure.
    @discardableResult
    public func run(_ arguments: [String], input: String? = nil) throws -> String {
        do { return try runner.check(arguments, input: input) } catch {
            throw LabError("in namespace \(name): \(error)")
        }
    }

    /// Runs a sequence of `ip` commands (`ip -batch -`), one per element, each an argv array.
    public func ip(_ commands: [[String]]) throws {
        guard !commands.isEmpty else { return }
        try run(["ip", "-batch", "-"], input: commands.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n")
    }

    public func sysctl(_ key: String, _ value: String) throws {
        try run(["sysctl", "-q", "-w", "\(key)=\(value)"])
    }
}
