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

/// The objects in Braid's nft table. Set, map and counter names come from Braid's state file
/// when it has one (listing them from the kernel means listing every element).
public struct ObservedTable: Sendable, Equatable {
    /// Filled in only for a full reload (see `KernelPort.readObjectNames`).
    public var counters: [String]
    /// Filled in only for a full reload.
    public var maps: [String]
    /// Filled in only for a full reload.
    public var sets: [String]
    public var chains: [String]
    /// A cheap summary of the table's chains (names and handles). Listing the whole table costs
    /// more than half a second once a set holds 100,000 prefixes, so re-applies compare this instead:
    /// it changes when a chain is added, deleted or replaced behind Braid's back.
    public var fingerprint: String

    public init(counters: [String] = [], maps: [String] = [], sets: [String] = [], chains: [String] = [], fingerprint: String) {
        self.counters = counters
        self.maps = maps
        self.sets = sets
        self.chains = chains
        self.fingerprint = fingerprint
    }
}

/// The names of the non-chain objects in Braid's table (`KernelPort.readObjectNames`).
public struct TableObjectNames: Sendable, Equatable {
    public var counters: [String]
    public var maps: [String]
    public var sets: [String]

    public init(counters: [String] = [], maps: [String] = [], sets: [String] = []) {
        self.counters = counters
        self.maps = maps
        self.sets = sets
    }
}
