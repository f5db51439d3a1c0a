// libyaml's event API, which Yams builds on but does not expose: the bound must be checked before
// Yams composes the document, because composing hashes every mapping key, and a key that is an
// alias of a nested alias (`? *a8`, a billion scalars) would take hours to hash.
import CYaml

/// Bounds how much a document may grow through YAML aliases. Yams shares an anchored node among its
/// aliases, so the composed tree is small, but composing (mapping keys are hashed whole), validation
/// and planning walk the expanded tree: one anchored list of 2,000 addresses reused by 2,000 rules
/// is a 170 KB file that expands to 4,000,000 entries. Without aliases the tree is no larger than
/// the file, so only what aliases add is bounded.
enum AliasExpansion {
    /// The most nodes all alias uses together may add (each use counts the whole tree it stands
    /// for, nested aliases included): far above any hand-written reuse, and small enough that a
    /// file that reaches it is checked in well under a second.
    static let maximumNodes = 100_000

    /// The first alias use that takes the expansion past `maximumNodes`, or nil. Reads the events
    /// only; a syntax error is left for the composer to report.
    static func check(_ text: String) -> ConfigIssue? {
        var bytes = Array(text.utf8)
        guard !bytes.isEmpty else { return nil }
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { return nil }
        defer { yaml_parser_delete(&parser) }
        return bytes.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var walk = Walk()
            var event = yaml_event_t()
            while yaml_parser_parse(&parser, &event) == 1 {
                defer { yaml_event_delete(&event) }
                if event.type == YAML_STREAM_END_EVENT { return nil }
                if let issue = walk.handle(event) { return issue }
            }
            return nil
        }
    }

    /// Follows the events, keeping the key path of the next node and the expanded size of every anchor.
    private struct Walk {
        struct Frame {
            let path: String
            let isMapping: Bool
            let anchor: String?
            let anchorLine: Int
            /// `nodes` when the collection started, so its expanded size is known at its end.
            let nodesAtStart: Int
            var index = 0
            var expectingKey = true
            var key = "?"
        }

        var stack: [Frame] = []
        /// Expanded size and defining line of each anchor seen so far (a later anchor of the same name replaces it).
        var anchors: [String: (size: Int, line: Int)] = [:]
        /// Nodes of the expanded document so far.
        var nodes = 0
        /// Of those, the nodes added by alias uses.
        var added = 0

        mutating func handle(_ event: yaml_event_t) -> ConfigIssue? {
            let line = Int(event.start_mark.line) + 1
            switch event.type {
            case YAML_SCALAR_EVENT:
                nodes += 1
                if let anchor = Self.text(event.data.scalar.anchor) { anchors[anchor] = (1, line) }
                let value = Self.text(event.data.scalar.value) ?? ""
                finishNode(scalar: value)
            case YAML_ALIAS_EVENT:
                let name = Self.text(event.data.alias.anchor) ?? ""
                let path = nextPath()
                if let anchor = anchors[name] {
                    nodes += anchor.size
                    added += anchor.size
                    if added > AliasExpansion.maximumNodes {
                        return ConfigIssue(
                            path: path, line: line,
                            message:
                                "the alias *\(name) (its anchor is at line \(anchor.line)) takes the document past \(AliasExpansion.maximumNodes) nodes added by aliases; write the list once (a set under `sets`, used with destination_set) instead of repeating it"
                        )
                    }
                }
                finishNode(scalar: nil)
            case YAML_SEQUENCE_START_EVENT:
                nodes += 1
                stack.append(
                    Frame(
                        path: nextPath(), isMapping: false, anchor: Self.text(event.data.sequence_start.anchor),
                        anchorLine: line, nodesAtStart: nodes - 1))
            case YAML_MAPPING_START_EVENT:
                nodes += 1
                stack.append(
                    Frame(
                        path: nextPath(), isMapping: true, anchor: Self.text(event.data.mapping_start.anchor),
                        anchorLine: line, nodesAtStart: nodes - 1))
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = stack.popLast() else { return nil }
                if let anchor = frame.anchor { anchors[anchor] = (nodes - frame.nodesAtStart, frame.anchorLine) }
                finishNode(scalar: nil)
            default:
                break
            }
            return nil
        }

        /// The key path of the node about to start: a mapping's value (or key) is named by its key.
        private func nextPath() -> String {
            guard let top = stack.last else { return "" }
            if top.isMapping { return top.path.isEmpty ? top.key : "\(top.path).\(top.key)" }
            return "\(top.path)[\(top.index)]"
        }

        /// Moves the enclosing collection past a finished node.
        private mutating func finishNode(scalar: String?) {
            guard !stack.isEmpty else { return }
            if stack[stack.count - 1].isMapping {
                if stack[stack.count - 1].expectingKey { stack[stack.count - 1].key = scalar ?? "?" }
                stack[stack.count - 1].expectingKey.toggle()
            } else {
                stack[stack.count - 1].index += 1
            }
        }

        private static func text(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
            pointer.map { String(cString: $0) }
        }
    }
}
