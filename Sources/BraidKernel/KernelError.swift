import Foundation

/// Why the kernel refused or could not be asked; the description names the command or step.
public enum KernelError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingProgram(String)
    case commandFailed(arguments: [String], status: Int32, standardError: String)
    case unexpectedOutput(command: String, detail: String)
    case notPermitted(String)

    public var description: String {
        switch self {
        case .missingProgram(let name):
            return "\(name) is not installed (install the nftables, iproute2, procps and conntrack packages)"
        case .commandFailed(let arguments, let status, let standardError):
            let message = standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            return "`\(arguments.joined(separator: " "))` failed (exit \(status))\(message.isEmpty ? "" : ": \(message)")"
        case .unexpectedOutput(let command, let detail):
            return "could not read the output of `\(command)`: \(detail)"
        case .notPermitted(let detail):
            return detail
        }
    }
}

