import Foundation

/// Why the kernel refused or could not be asked; the description names the command or step.
public enum KernelError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingProgram(String)
    case commandFailed(arguments: [String], status: Int32, standardError: String)
    case unexpectedOutput(command: String, detail: String)
    /// A netlink request (the nftables generation) failed or got no answer.
    case netlink(String)
    /// The kernel refused an rtnetlink change; `request` is the `ip` command that asks the same.
    case refused(request: [String], reason: String)
    /// A network namespace could not be opened or entered (the lab, `--namespace` runners).
    case namespace(String)
    /// A sysctl could not be read (its interface vanished, or the file is not there).
    case sysctlUnreadable(key: String, reason: String)
    /// `madvise` refused to unmap the binary's code pages.
    case memoryAdvice(errno: Int32)
    /// Anything else, with what was thrown.
    case unexpected(String)

    public var description: String {
        switch self {
        case .missingProgram(let name):
            return "\(name) is not installed (install the nftables, iproute2, procps and conntrack packages)"
        case .commandFailed(let arguments, let status, let standardError):
            let message = Self.excerpt(standardError)
            return "`\(arguments.joined(separator: " "))` failed (exit \(status))\(message.isEmpty ? "" : ": \(message)")"
        case .unexpectedOutput(let command, let detail):
            return "could not read the output of `\(command)`: \(detail)"
        case .refused(let request, let reason):
            return "the kernel refused `\(request.joined(separator: " "))`: \(reason)"
        case .sysctlUnreadable(let key, let reason):
            return "cannot read /proc/sys/\(key): \(reason)"
        case .memoryAdvice(let errno):
            return "madvise(MADV_DONTNEED) on braid's own code failed: \(String(cString: strerror(errno)))"
        case .netlink(let detail), .namespace(let detail), .unexpected(let detail):
            return detail
        }
    }

    /// The head of a program's error output. A failed transaction of 10,000 rules makes nft echo
    /// thousands of lines; a log needs the first few (the error and its caret), not all of them.
    static func excerpt(_ text: String, lines maximumLines: Int = 12, characters maximumCharacters: Int = 2000) -> String {
        let lines = text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "\n", omittingEmptySubsequences: false)
        var kept = lines.prefix(maximumLines).map { $0.count > 300 ? $0.prefix(300) + "…" : Substring($0) }.joined(
            separator: "\n")
        if kept.count > maximumCharacters { kept = String(kept.prefix(maximumCharacters)) + "…" }
        let omitted = lines.count - min(lines.count, maximumLines)
        return omitted > 0 ? kept + "\n… (\(omitted) more line(s) of output not shown)" : kept
    }
}
