import Synchronization

/// A ruleset's text together with its objects as `RenderedTable(parsing:)` would read them back,
/// built object by object without parsing: an in-place update compares the objects, a full load
/// and the state file use the text.
public struct RulesetRendering: Sendable {
    /// `NftablesRuleset.render()`.
    public var source: String
    public var table: RenderedTable
}

extension NftablesRuleset {
    /// The table's text and objects. `memo` keeps each object's rendering for the next call: a
    /// weight or health change re-renders the few objects that changed, not the 10,000-rule maps
    /// and 100,000-prefix sets around them (rendering and parsing those took most of a change).
    public func rendering(memo: RenderedObjectMemo? = nil) -> RulesetRendering {
        let header = "table \(family) \(name) {"
        var pieces: [RenderedObjectMemo.Piece] = []
        pieces.reserveCapacity(counters.count + sets.count + maps.count + chains.count)
        func add(_ source: RenderedObjectMemo.Source) {
            // A set or map is set off by a blank line unless it opens the table (see `render()`).
            let blankBefore: Bool =
                switch source {
                case .counter: false
                case .chain: true
                case .set, .map: !pieces.isEmpty
                }
            pieces.append(memo?.piece(for: source, blankBefore: blankBefore) ?? .init(source, blankBefore: blankBefore))
        }
        for counter in counters { add(.counter(counter)) }
        for set in sets { add(.set(set)) }
        for map in maps { add(.map(map)) }
        for chain in chains { add(.chain(chain)) }
        memo?.keep(pieces)
        var source = header + "\n"
        source.reserveCapacity(pieces.reduce(header.utf8.count + 3) { $0 + $1.text.utf8.count })
        for piece in pieces { source += piece.text }
        source += "}\n"
        return RulesetRendering(source: source, table: RenderedTable(table: "\(family) \(name)", objects: pieces.map(\.object)))
    }
}

/// The last rendering of each object of Braid's table, by kind and name: a memo of a pure function
/// (object → its text), so a hit is exactly what rendering again would give. Only the objects of
/// the latest rendering are kept.
public final class RenderedObjectMemo: Sendable {
    /// One top-level object of the table, as planned.
    enum Source: Sendable, Equatable {
        case counter(NftablesCounter)
        case set(NftablesSet)
        case map(NftablesMap)
        case chain(NftablesChain)

        var kind: String {
            switch self {
            case .counter: "counter"
            case .set: "set"
            case .map: "map"
            case .chain: "chain"
            }
        }

        var name: String {
            switch self {
            case .counter(let counter): counter.name
            case .set(let set): set.name
            case .map(let map): map.name
            case .chain(let chain): chain.name
            }
        }
    }

    /// An object's rendering: its text (lines, each ending in a newline) and the same lines as a
    /// `RenderedTable.Object`, sharing the text's storage.
    struct Piece: Sendable {
        var source: Source
        var blankBefore: Bool
        var text: String
        var object: RenderedTable.Object

        init(_ source: Source, blankBefore: Bool) {
            self.source = source
            self.blankBefore = blankBefore
            var leading: [String] = blankBefore ? [""] : []
            var declaration: [String] = []
            var content: [String] = []
            // Element lines keep their commas in the text; the object's content has none.
            var elements = false
            func comment(_ text: String?) {
                guard let text else { return }
                for line in text.split(separator: "\n", omittingEmptySubsequences: false) { leading.append("\t# \(line)") }
            }
            switch source {
            case .counter(let counter):
                comment(counter.comment)
            case .set(let set):
                comment(set.comment)
                declaration.append("\t\ttype \(set.type)")
                if set.isInterval { declaration.append("\t\tflags interval") }
                if let timeout = set.timeoutSeconds {
                    declaration.append("\t\tflags dynamic,timeout")
                    declaration.append("\t\ttimeout \(timeout)s")
                }
                // Eight per line: sets can hold 100,000 prefixes.
                content = stride(from: 0, to: set.elements.count, by: 8).map {
                    "\t\t\t" + set.elements[$0..<min($0 + 8, set.elements.count)].joined(separator: ", ")
                }
                elements = true
            case .map(let map):
                comment(map.comment)
                declaration.append("\t\t\(map.type)")
                if map.isInterval { declaration.append("\t\tflags interval") }
                content = map.elements.map { "\t\t\t\($0.key) : \($0.value)" }
                elements = true
            case .chain(let chain):
                comment(chain.comment)
                if let hook = chain.hook { declaration.append("\t\t\(hook.declaration)") }
                for rule in chain.rules {
                    if let note = rule.comment {
                        for line in note.split(separator: "\n") { content.append("\t\t# \(line)") }
                    }
                    content.append("\t\t\(rule.text)")
                }
            }
            var lines = leading
            lines.append("\t\(source.kind) \(source.name) {")
            lines += declaration
            let hasElementBlock = elements && !content.isEmpty
            if hasElementBlock {
                lines.append("\t\telements = {")
                for (index, line) in content.enumerated() { lines.append(index == content.count - 1 ? line : line + ",") }
                lines.append("\t\t}")
            } else {
                lines += content
            }
            lines.append("\t}")
            text = lines.joined(separator: "\n") + "\n"
            // The object's lines are slices of `text`, in the order written above.
            var slices = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                .map { Substring($0) }
            slices.removeLast()
            var next = 0
            func take(_ count: Int) -> [Substring] {
                defer { next += count }
                return Array(slices[next..<next + count])
            }
            let leadingSlices = take(leading.count)
            next += 1
            let declarationSlices = take(declaration.count)
            var contentSlices: [Substring]
            if hasElementBlock {
                next += 1
                contentSlices = take(content.count)
                for index in contentSlices.indices.dropLast() { contentSlices[index] = contentSlices[index].dropLast() }
            } else {
                contentSlices = take(content.count)
            }
            object = RenderedTable.Object(
                kind: source.kind, name: source.name, leading: leadingSlices, declaration: declarationSlices,
                content: contentSlices)
        }
    }

    private struct Key: Hashable {
        var kind: String
        var name: String
    }

    private let last = Mutex<[Key: Piece]>([:])

    public init() {}

    /// The rendering of `source`, from the memo when the same object was rendered last time.
    func piece(for source: Source, blankBefore: Bool) -> Piece {
        let key = Key(kind: source.kind, name: source.name)
        if let known = last.withLock({ $0[key] }), known.blankBefore == blankBefore, known.source == source {
            return known
        }
        return Piece(source, blankBefore: blankBefore)
    }

    /// Keeps `pieces`, forgetting the objects of earlier renderings.
    func keep(_ pieces: [Piece]) {
        var kept: [Key: Piece] = [:]
        kept.reserveCapacity(pieces.count)
        for piece in pieces { kept[Key(kind: piece.source.kind, name: piece.source.name)] = piece }
        last.withLock { $0 = kept }
    }
}
