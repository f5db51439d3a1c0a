/// One thing wrong with a configuration file: where it is (key path and line) and what to fix.
public struct ConfigIssue: Sendable, Equatable, CustomStringConvertible {
    /// Key path in the document, such as `wans[1].gateway`; empty for the document itself.
    public let path: String
    /// 1-based line in the file, when the YAML parser knows it.
    public let line: Int?
    public let message: String

    /// Control characters in `path` and `message` (which quote config values) are escaped, so an
    /// error about a hostile value cannot rewrite the terminal or the log it is printed to.
    public init(path: String, line: Int?, message: String) {
        self.path = ControlCharacters.escaped(path)
        self.line = line
        self.message = ControlCharacters.escaped(message)
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
            return "cannot read config \(ControlCharacters.escaped(path)): \(ControlCharacters.escaped(reason))"
        case .syntax(let message, let line):
            return "config is not valid YAML\(line.map { " (line \($0))" } ?? ""): \(ControlCharacters.escaped(message))"
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

/// Control characters (C0, DEL and C1: NUL, ESC, line breaks, …) in text that came from a config.
public enum ControlCharacters {
    public static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control
    }

    public static func contains(_ text: some StringProtocol) -> Bool {
        text.unicodeScalars.contains(where: isControl)
    }

    /// `text` with each control character written as a Swift escape, `\u{1B}` for ESC.
    public static func escaped(_ text: some StringProtocol) -> String {
        guard contains(text) else { return String(text) }
        var result = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) {
                result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
