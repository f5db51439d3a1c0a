/// Turns mwan3's names (UCI identifiers: any case, any length) into names Braid allows (1-15 of
/// `a-z 0-9 _ -`, starting with a letter or digit, not one of Braid's own words), one namespace at
/// a time, so that two mwan3 names never become one Braid name.
struct BraidNameMapping {
    static let reserved: Set<String> = ["main", "local", "default", "balance", "drop", "all", "unreachable"]
    private var taken: Set<String> = []
    private(set) var names: [String: String] = [:]

    /// The Braid name for `original`, and whether it had to change.
    mutating func name(for original: String) -> (name: String, changed: Bool) {
        if let existing = names[original] { return (existing, existing != original) }
        var base = String(
            original.lowercased().unicodeScalars.map { scalar -> Character in
                let allowed = ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-"
                return allowed ? Character(scalar) : "_"
            })
        while let first = base.first, first == "_" || first == "-" { base.removeFirst() }
        if base.isEmpty { base = "x" }
        if Self.reserved.contains(base) { base += "_1" }
        base = String(base.prefix(15))
        var candidate = base
        var counter = 2
        while taken.contains(candidate) || Self.reserved.contains(candidate) {
            let suffix = "_\(counter)"
            candidate = String(base.prefix(15 - suffix.count)) + suffix
            counter += 1
        }
        taken.insert(candidate)
        names[original] = candidate
        return (candidate, candidate != original)
    }
}
