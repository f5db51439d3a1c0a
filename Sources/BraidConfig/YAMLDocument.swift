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
                report(path: cursor.child(name), line: key.mark?.line,
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
        } else if text.allSatisfy({ $0.isASCII && $0.isNumber }) || (text.first == "-" && text.dropFirst().allSatisfy({ $0.isASCII && $0.isNumber }) && text.count > 1) {
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

/// Bounds how much a document may grow through YAML aliases. Yams shares an anchored node among its
/// aliases, so composing is cheap, but validation and planning walk the expanded tree: one anchored
/// list of 2,000 addresses reused by 2,000 rules is a 170 KB file that expands to 4,000,000
/// entries. Without aliases the tree is no larger than the file, so only expansion is bounded.
enum AliasExpansion {
    /// The most nodes all alias uses together may add (each use counts the whole tree it stands
    /// for, nested aliases included): far above any hand-written reuse, and small enough that
    /// checking a file that reaches it takes well under a second.
    static let maximumNodes = 100_000

    /// The first alias use that takes the expansion past `maximumNodes`, or nil.
    static func check(_ root: Node) -> ConfigIssue? {
        var walk = Walk()
        return walk.visit(root, path: "", line: root.mark?.line)
    }

    private struct Walk {
        /// Anchors whose defining node has been passed; meeting such a node again is an alias use.
        var defined: Set<ObjectIdentifier> = []
        var added = 0

        /// `line`: where the node is written, for a use site (an alias node carries the mark of
        /// its anchor, so the caller passes the line of the key or item that holds it).
        mutating func visit(_ node: Node, path: String, line: Int?) -> ConfigIssue? {
            if let anchor = node.anchor {
                if defined.contains(ObjectIdentifier(anchor)) {
                    var budget = AliasExpansion.maximumNodes - added
                    guard count(node, within: &budget) else {
                        let anchorLine = node.mark.map { " (defined at line \($0.line))" } ?? ""
                        return ConfigIssue(path: path, line: line, message:
                            "the alias *\(anchor.rawValue)\(anchorLine) takes the document past \(AliasExpansion.maximumNodes) nodes reached through aliases; write the list once (a set under `sets`, used with destination_set) instead of repeating it")
                    }
                    added = AliasExpansion.maximumNodes - budget
                    return nil
                }
                defined.insert(ObjectIdentifier(anchor))
            }
            switch node {
            case .scalar, .alias:
                return nil
            case .sequence(let sequence):
                for (index, item) in sequence.enumerated() {
                    // An item's own mark is its anchor's when it is an alias; the sequence's line is the nearest honest one.
                    let itemLine = item.anchor.map { defined.contains(ObjectIdentifier($0)) } == true ? line : item.mark?.line
                    if let issue = visit(item, path: "\(path)[\(index)]", line: itemLine) { return issue }
                }
                return nil
            case .mapping(let mapping):
                for (key, value) in mapping {
                    let name = key.scalar?.string ?? "?"
                    let childPath = path.isEmpty ? name : "\(path).\(name)"
                    if let issue = visit(key, path: childPath, line: key.mark?.line) { return issue }
                    if let issue = visit(value, path: childPath, line: key.mark?.line) { return issue }
                }
                return nil
            }
        }

        /// Counts the nodes of `node`'s tree against `budget`; false when it runs out.
        private func count(_ node: Node, within budget: inout Int) -> Bool {
            budget -= 1
            guard budget >= 0 else { return false }
            switch node {
            case .scalar, .alias:
                return true
            case .sequence(let sequence):
                for item in sequence where !count(item, within: &budget) { return false }
                return true
            case .mapping(let mapping):
                for (key, value) in mapping where !count(key, within: &budget) || !count(value, within: &budget) { return false }
                return true
            }
        }
    }
}
