/// One thing wrong with a configuration file: where it is (key path and line) and what to fix.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    /// Key path in the document, such as `wans[1].gateway`; empty for the document itself.
    public let path: String
    /// 1-based line in the file, when the YAML parser knows it.
    public let line: Int?
    public let message: String

    public init(path: String, line: Int?, message: String) {
        self.path = path
        self.line = line
        self.message = message
    }

    public var description: String {
        let location = line.map { " (line \($0))" } ?? ""
        return path.isEmpty ? "\(message)\(location)" : "\(path): \(message)\(location)"
    }
}

/// Why a configuration could not be loaded; `description` is what the user reads.
public enum ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be read at all.
    case unreadable(path: String, reason: String)
    /// The text is not YAML.
    case syntax(message: String, line: Int?)
    /// The YAML parsed but says something Braid cannot do; every problem found is listed.
    case invalid([ConfigIssue])

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read config \(path): \(reason)"
        case .syntax(let message, let line):
            return "config is not valid YAML\(line.map { " (line \($0))" } ?? ""): \(message)"
        case .invalid(let issues):
            return issues.map(\.description).joined(separator: "\n")
        }
    }

    /// The issues, so callers and tests can check which key was named.
    public var issues: [ConfigIssue] {
        switch self {
        case .invalid(let issues): issues
        case .syntax(let message, let line): [ConfigIssue(path: "", line: line, message: message)]
        case .unreadable(let path, let reason): [ConfigIssue(path: "", line: nil, message: "\(path): \(reason)")]
        }
    }
}
