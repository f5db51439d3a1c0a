import BraidPlanner

/// What Braid finds of its own in the kernel: the ip rules and routes tagged with its protocol,
/// and its nft table. Nothing else is read, so nothing else can be changed by mistake.
public struct ObservedKernelState: Sendable, Equatable {
    public var policyRules: [PolicyRule]
    public var routes: [Route]
    /// Nil when Braid's table does not exist.
    public var table: ObservedTable?

    public init(policyRules: [PolicyRule] = [], routes: [Route] = [], table: ObservedTable? = nil) {
        self.policyRules = policyRules
        self.routes = routes
        self.table = table
    }
}

/// Braid's nft table as listed by the kernel.
public struct ObservedTable: Sendable, Equatable {
    public var counters: [String]
    public var maps: [String]
    public var sets: [String]
    public var chains: [String]
    /// `nft -s list table`: rules without counter values, to compare two moments.
    public var statelessListing: String
    /// `nft list table`: what a rollback reloads, counter values included.
    public var listing: String

    public init(counters: [String] = [], maps: [String] = [], sets: [String] = [], chains: [String] = [],
                statelessListing: String, listing: String) {
        self.counters = counters
        self.maps = maps
        self.sets = sets
        self.chains = chains
        self.statelessListing = statelessListing
        self.listing = listing
    }
}
