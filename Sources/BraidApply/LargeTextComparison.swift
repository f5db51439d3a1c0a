import Foundation

extension String {
    /// Whether two texts are byte for byte the same: a length check, then one memcmp.
    ///
    /// The rendered table of a large policy is 2 MB, and `==` on two such strings costs about
    /// 0.85 ms when they differ (their comments hold non-ASCII text, so Swift compares them as
    /// Unicode, not as bytes); a health change asked it a dozen times, 10 ms of its 25. Byte
    /// equality is stricter than `==` (canonically equivalent spellings differ), which can only
    /// make a same table look changed: never the other way round.
    func isSameText(as other: String) -> Bool {
        var left = self
        var right = other
        guard left.utf8.count == right.utf8.count else { return false }
        return left.withUTF8 { a in
            right.withUTF8 { b in a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0) }
        }
    }
}

extension Optional where Wrapped == String {
    /// `isSameText` for a text that may be missing: two missing texts are the same.
    func isSameText(as other: String?) -> Bool {
        switch (self, other) {
        case (nil, nil): true
        case (let left?, let right?): left.isSameText(as: right)
        default: false
        }
    }
}
