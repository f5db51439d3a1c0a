import Yams

/// A cursor over a composed YAML node that knows its key path, so every error it reports can
/// name the key and the line. Validation code walks the document through it and records
/// issues instead of throwing, so one run reports every problem in the file.
struct YAMLCursor {
    let node: Node
    let path: String

    var line: Int? { node.mark?.line }

    func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    func element(_ index: Int) -> String { "\(path)[\(index)]" }
}

/// Collects issues while a document is walked.
struct IssueCollector {
    private(set) var issues: [ConfigIssue] = []

    mutating func report(_ cursor: YAMLCursor, _ message: String) {
        issues.append(ConfigIssue(path: cursor.path, line: cursor.line, message: message))
    }

    mutating func report(path: String, line: Int?, _ message: String) {
        issues.append(ConfigIssue(path: path, line: line, message: message))
    }

    /// The entries of a mapping, keyed by name; reports a non-mapping and every key not in `allowed`.
    mutating func mapping(_ cursor: YAMLCursor, allowed: [String]) -> [String: YAMLCursor]? {
        guard case .mapping(let mapping) = cursor.node else {
            report(cursor, "expected a mapping with keys \(allowed.joined(separator: ", ")), found \(describe(cursor.node))")
            return nil
        }
        var entries: [String: YAMLCursor] = [:]
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                report(path: cursor.path, line: key.mark?.line, "keys must be plain words")
                continue
            }
            let name = scalar.string
            guard allowed.contains(name) else {
                report(
                    path: cursor.child(name), line: key.mark?.line,
                    "unknown key; expected one of \(allowed.joined(separator: ", "))")
                continue
            }
            entries[name] = YAMLCursor(node: value, path: cursor.child(name))
        }
        return entries
    }

    /// The items of a sequence; reports anything else.
    mutating func sequence(_ cursor: YAMLCursor, of what: String) -> [YAMLCursor]? {
        guard case .sequence(let sequence) = cursor.node else {
            report(cursor, "expected a list of \(what), found \(describe(cursor.node))")
            return nil
        }
        return sequence.enumerated().map { YAMLCursor(node: $1, path: cursor.element($0)) }
    }

    /// A plain scalar's text; reports mappings, lists and nulls.
    mutating func string(_ cursor: YAMLCursor, of what: String) -> String? {
        guard case .scalar(let scalar) = cursor.node, !(scalar.style == .plain && isNull(scalar.string)) else {
            report(cursor, "expected \(what), found \(describe(cursor.node))")
            return nil
        }
        return scalar.string
    }

    /// `true` or `false`.
    mutating func boolean(_ cursor: YAMLCursor) -> Bool? {
        guard let text = string(cursor, of: "true or false") else { return nil }
        switch text {
        case "true": return true
        case "false": return false
        default:
            report(cursor, "\"\(text)\" is not true or false")
            return nil
        }
    }

    /// A decimal or 0x-hexadecimal integer within `range`.
    mutating func integer(_ cursor: YAMLCursor, in range: ClosedRange<Int>, of what: String) -> Int? {
        guard let text = string(cursor, of: what) else { return nil }
        let value: Int?
        if text.hasPrefix("0x") || text.hasPrefix("0X") {
            let digits = text.dropFirst(2)
            value = !digits.isEmpty && digits.allSatisfy(\.isHexDigit) ? Int(digits, radix: 16) : nil
        } else if text.allSatisfy({ $0.isASCII && $0.isNumber })
            || (text.first == "-" && text.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }) && text.count > 1)
        {
            value = Int(text)
        } else {
            value = nil
        }
        guard let value else {
            report(cursor, "\"\(text)\" is not an integer; expected \(what)")
            return nil
        }
        guard range.contains(value) else {
            report(cursor, "\(value) is out of range; expected \(what) (\(range.lowerBound)...\(range.upperBound))")
            return nil
        }
        return value
    }

    private func isNull(_ text: String) -> Bool { ["", "~", "null", "Null", "NULL"].contains(text) }

    private func describe(_ node: Node) -> String {
        switch node {
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        case .scalar(let scalar):
            scalar.style == .plain && isNull(scalar.string) ? "nothing" : "\"\(scalar.string)\""
        }
    }
}
