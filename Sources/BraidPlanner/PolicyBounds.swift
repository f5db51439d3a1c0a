/// How large a compiled policy may grow. Per new connection a family's pipeline costs one map
/// lookup per shape and layer (`PolicyCompiler`); the kernel's memory and the load time grow with
/// the elements. A handful of lookups is noise next to the connection's own setup; dozens are
/// not, and millions of elements take seconds to load.
enum PolicyBounds {
    /// Above this many lookups per new connection (one family), planning warns, naming the rules
    /// whose overlaps forced extra layers: 8 covers every shape once plus a few layers.
    static let warningLookups = 8
    /// Above this many, planning refuses: a pipeline that long costs new connections more than
    /// the rules save, and it only arises from many overlapping multi-criteria rules.
    static let maximumLookups = 32
    /// Above this many rule-map elements in all, planning refuses (about 10 s of loading and
    /// hundreds of MB of kernel memory).
    static let maximumElements = 2_000_000
    /// From this many rank-map elements in all, a policy's maps are split by pass-over group
    /// (`PreparedPolicy`), so that a health change touches no map: replacing a map of fewer
    /// elements costs a few ms, a lookup per group and shape costs every new connection.
    static let groupingElements = 1_000

    /// The rules with the largest boxes, for a refusal over `maximumElements`.
    static func largestRules(_ rules: [RuleBox]) -> String {
        rules.sorted { $0.boxCount > $1.boxCount }.prefix(5).map { "\"\($0.name)\" (\($0.boxCount) elements)" }
            .joined(separator: ", ")
    }
}
