import BraidKernel
import BraidPlanner

/// The elements one set or map loses and gains between two renderings of it, read from the element
/// lines `RenderedTable` keeps: a set's elements, a map's `key : value` pairs. A map key whose value
/// changed is removed and added again, because nft has no element update; that is one transaction,
/// so no packet sees the key missing.
///
/// Keys are compared as Braid writes them (`10.0.0.0/24`, `10.0.1.0-10.0.1.9`,
/// `0x00000401-0xffffffff . 10.0.0.0/24`). nft deletes an interval element only when given the same
/// interval the kernel holds; Braid's maps and sets have no `auto-merge`, so the kernel holds each
/// interval as Braid wrote it and a delete written from the loaded rendering finds it (checked with
/// nft 1.0.6 for prefixes, ranges and concatenated ranges, and for an element added next to a range).
struct ElementDiff: Sendable, Equatable {
    /// Set elements, or map keys, to delete, in the loaded rendering's order.
    var removed: [String] = []
    /// Element lines (`a` or `key : value`) to add, in the desired rendering's order.
    var added: [String] = []
    /// How many elements the larger of the two renderings holds.
    var size = 0

    var isEmpty: Bool { removed.isEmpty && added.isEmpty }

    init(removed: [String] = [], added: [String] = [], size: Int = 0) {
        self.removed = removed
        self.added = added
        self.size = size
    }

    /// Nil when a map's element line has no ` : ` (not Braid's rendering) or one rendering names a
    /// key twice (nft would refuse it, so neither can be what the kernel holds).
    init?(kind: String, from loaded: [Substring], to desired: [Substring]) {
        let before = Self.elements(of: loaded)
        let after = Self.elements(of: desired)
        size = max(before.count, after.count)
        if kind == "set" {
            let old = Set(before)
            let new = Set(after)
            guard old.count == before.count, new.count == after.count else { return nil }
            removed = before.filter { !new.contains($0) }.map(String.init)
            added = after.filter { !old.contains($0) }.map(String.init)
            return
        }
        guard let old = Self.pairs(before), let new = Self.pairs(after) else { return nil }
        // A key whose value changed goes out and comes back with the new value.
        removed = before.compactMap { element in
            let (key, value) = Self.split(element)!
            return new.values[key] == value ? nil : String(key)
        }
        added = after.compactMap { element in
            let (key, value) = Self.split(element)!
            return old.values[key] == value ? nil : String(element)
        }
    }

    /// The elements of a set's or map's content lines: each line is one or more elements joined by
    /// `, ` (sets are written eight to a line), with the leading tabs of the rendering.
    static func elements(of content: [Substring]) -> [Substring] {
        var elements: [Substring] = []
        elements.reserveCapacity(content.count)
        for line in content {
            var rest = line.drop { $0 == "\t" || $0 == " " }
            // A `, ` inside quotes (a counter map's quoted names never hold one, but a comment might) is not a separator.
            while let separator = Self.separator(in: rest) {
                elements.append(rest[..<separator.lowerBound])
                rest = rest[separator.upperBound...]
            }
            if !rest.isEmpty { elements.append(rest) }
        }
        return elements
    }

    // The separators are ASCII, so they are looked for in the UTF-8 bytes: Foundation's
    // `range(of:)` and a walk by Character cost more than the rest of a large map's diff.
    private static func separator(in text: Substring) -> Range<Substring.Index>? {
        let bytes = text.utf8
        var inQuotes = false
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                inQuotes.toggle()
            } else if byte == UInt8(ascii: ","), !inQuotes {
                var end = bytes.index(after: index)
                while end < bytes.endIndex, bytes[end] == UInt8(ascii: " ") { end = bytes.index(after: end) }
                return index..<end
            }
            index = bytes.index(after: index)
        }
        return nil
    }

    /// A map element's key and value, split at its first ` : ` (keys hold no ` : `: IPv6
    /// addresses and concatenations have no spaces around their colons).
    static func split(_ element: Substring) -> (key: Substring, value: Substring)? {
        let bytes = element.utf8
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: ":") {
                let after = bytes.index(after: index)
                if index > bytes.startIndex, after < bytes.endIndex, bytes[bytes.index(before: index)] == UInt8(ascii: " "),
                    bytes[after] == UInt8(ascii: " ")
                {
                    return (element[..<bytes.index(before: index)], element[bytes.index(after: after)...])
                }
            }
            index = bytes.index(after: index)
        }
        return nil
    }

    private static func pairs(_ elements: [Substring]) -> (values: [Substring: Substring], count: Int)? {
        var values: [Substring: Substring] = [:]
        values.reserveCapacity(elements.count)
        for element in elements {
            guard let (key, value) = split(element), values.updateValue(value, forKey: key) == nil else { return nil }
        }
        return (values, elements.count)
    }
}
