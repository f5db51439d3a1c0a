/// A table as `NftablesRuleset.render()` writes it, split into its top-level objects (counters,
/// sets, maps, chains), so that two renderings can be compared object by object and an object can
/// be written on its own. Braid keeps only the rendered text of its last load (in the state
/// file); this is how that text is read back.
///
/// Each object keeps its declaration (a chain's hook line, a set's or map's type and flags lines)
/// apart from its content (a chain's rules, a set's or map's element lines), because nft can
/// replace the content of an object in place but not its declaration.
public struct RenderedTable: Sendable, Equatable {
    public struct Object: Sendable, Equatable {
        /// "counter", "set", "map" or "chain".
        public var kind: String
        public var name: String
        /// The blank and `#` lines before the object.
        public var leading: [Substring]
        /// A chain's hook line; a set's or map's `type`/`typeof` and `flags` lines.
        public var declaration: [Substring]
        /// A chain's rule lines (with their `#` lines); a set's or map's element lines, without the
        /// commas between them.
        public var content: [Substring]

        /// The object's text, as `render()` wrote it.
        public func lines() -> [Substring] {
            var lines = leading
            lines.append("\t\(kind) \(name) {")
            lines += declaration
            if kind == "chain" || kind == "counter" {
                lines += content
            } else if !content.isEmpty {
                lines.append("\t\telements = {")
                for (index, line) in content.enumerated() { lines.append(index == content.count - 1 ? line : line + ",") }
                lines.append("\t\t}")
            }
            lines.append("\t}")
            return lines
        }

        /// The `@name` references in a chain's rules.
        public func references(_ other: String) -> Bool {
            let needle = "@" + other
            return content.contains { line in
                var rest = line[...]
                while let range = rest.range(of: needle) {
                    let after = range.upperBound
                    if after == rest.endIndex || !Self.isNameCharacter(rest[after]) { return true }
                    rest = rest[after...]
                }
                return false
            }
        }

        static func isNameCharacter(_ character: Character) -> Bool {
            character.isLetter || character.isNumber || character == "_" || character == "-"
        }
    }

    /// "inet braid".
    public var table: String
    public var objects: [Object]

    public init(table: String, objects: [Object]) {
        self.table = table
        self.objects = objects
    }

    /// Nil when `text` is not a rendering of one table (for example the kernel's own listing).
    public init?(parsing text: String) {
        // Split by bytes: splitting by Character costs grapheme breaking over megabytes of text.
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { Substring($0) }
        if lines.last == "" { lines.removeLast() }
        guard let first = lines.first, first.hasPrefix("table "), first.hasSuffix(" {"), lines.last == "}" else { return nil }
        table = String(first.dropFirst("table ".count).dropLast(2))
        objects = []
        var leading: [Substring] = []
        var index = 1
        let end = lines.count - 1
        while index < end {
            let line = lines[index]
            index += 1
            if line.isEmpty || line.hasPrefix("\t#") { leading.append(line); continue }
            let words = line.dropFirst().split(separator: " ")
            guard line.hasPrefix("\t"), !line.hasPrefix("\t\t"), words.count == 3, words[2] == "{",
                ["counter", "set", "map", "chain"].contains(words[0])
            else { return nil }
            var object = Object(kind: String(words[0]), name: String(words[1]), leading: leading, declaration: [], content: [])
            leading = []
            var inElements = false
            var closed = false
            while index < end {
                let inner = lines[index]
                index += 1
                if inner == "\t}" { closed = true; break }
                if object.kind == "chain" {
                    if object.content.isEmpty && object.declaration.isEmpty && inner.hasPrefix("\t\ttype ") {
                        object.declaration.append(inner)
                    } else {
                        object.content.append(inner)
                    }
                } else if inElements {
                    if inner == "\t\t}" { inElements = false; continue }
                    object.content.append(inner.hasSuffix(",") ? inner.dropLast() : inner)
                } else if inner == "\t\telements = {" {
                    inElements = true
                } else {
                    object.declaration.append(inner)
                }
            }
            guard closed, !inElements else { return nil }
            objects.append(object)
        }
        guard leading.isEmpty else { return nil }
    }

    /// The text of `objects` as one declarative `table … { … }` block.
    public static func block(table: String, objects: [Object]) -> String {
        var lines: [Substring] = ["table \(table) {"]
        for object in objects { lines += object.lines() }
        lines.append("}")
        return lines.joined(separator: "\n") + "\n"
    }

    public func render() -> String { Self.block(table: table, objects: objects) }
}
