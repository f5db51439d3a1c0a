import BraidKernel
import BraidPlanner

/// Whether Braid's nft table is still exactly what Braid loaded, when its chains all look right.
///
/// A deleted rule or set element leaves every chain in place, and listing the table is slow with
/// large sets. The nftables generation, which the kernel increments on every committed transaction
/// (anyone's, on any table), is one netlink request: unchanged since Braid recorded it means no one
/// can have touched the table. Only when it moved is the table listed and compared with a digest of
/// the listing Braid verified. Every listing is bracketed by generation reads, so a transaction that
/// lands while the table is being listed is never taken into a recorded digest.
struct TableVerification {
    /// No difference found: the table can stay.
    var intact = true
    /// Nothing vouched for the table (the generation moved before a digest was recorded), so it is
    /// reloaded to be sure; not evidence that anything changed.
    var unverifiable = false
    /// The generation and digest to record when nothing is loaded; nil keeps the previous ones.
    var verified: (generation: UInt64, digest: String)?

    /// Above this listing cost the table is not listed right after a load (a cold apply of 10,000
    /// rules and 100,000 prefixes, or a failover with them installed, must stay well under a
    /// second); the next apply that finds the generation unchanged records the digest instead.
    static let immediateListingLimit = 20_000
    /// What one object costs a listing, in elements: nft fetches each set's and map's elements
    /// with a request of its own. Measured: 10,000 one-element maps take seconds to list, while
    /// one set of 100,000 prefixes takes about half a second.
    static let listingCostPerObject = 100

    static func listingCost(_ ruleset: NftablesRuleset) -> Int {
        let elements = ruleset.sets.map(\.elements.count).reduce(0, +) + ruleset.maps.map(\.elements.count).reduce(0, +)
        return elements + listingCostPerObject * (ruleset.sets.count + ruleset.maps.count + ruleset.chains.count)
    }

    static func check(
        kernel: any KernelPort, generation: UInt64, recordedGeneration: UInt64?,
        recordedDigest: String?
    ) throws(KernelError) -> TableVerification {
        if recordedGeneration == generation, let recordedDigest {
            return TableVerification(verified: (generation, recordedDigest))
        }
        let listing = try kernel.readTableListing()
        let stable = try kernel.readRulesetGeneration() == generation
        guard let listing else { return TableVerification(intact: false) }
        let digest = StableDigest.of([DynamicSetListing.withoutDynamicElements(listing)])
        if let recordedDigest {
            // The listing is from some moment after `generation`: record that generation, so a
            // transaction during the listing is looked at again next time.
            return digest == recordedDigest ? TableVerification(verified: (generation, digest)) : TableVerification(intact: false)
        }
        if recordedGeneration == generation {
            // No one has committed anything since Braid's load: this listing is that load.
            return TableVerification(verified: stable ? (generation, digest) : nil)
        }
        return TableVerification(intact: false, unverifiable: true)
    }

    /// What to record after Braid loaded its table: the generation its load produced (only if
    /// no one else's transaction came in between) and, for a small table, the listing's digest.
    static func afterLoad(
        kernel: any KernelPort, generationBefore: UInt64,
        ruleset: NftablesRuleset
    ) throws(KernelError) -> (generation: UInt64?, digest: String?) {
        let generation = try kernel.readRulesetGeneration()
        // Braid's load is one transaction; anything more means someone else's came in between.
        guard generation == generationBefore &+ 1 else { return (nil, nil) }
        guard listingCost(ruleset) <= immediateListingLimit else { return (generation, nil) }
        let listing = try kernel.readTableListing()
        guard try kernel.readRulesetGeneration() == generation, let listing else { return (generation, nil) }
        return (generation, StableDigest.of([DynamicSetListing.withoutDynamicElements(listing)]))
    }

    /// The generation and digest to record after an apply that loaded nothing.
    func record(keeping previous: AppliedState?) -> (generation: UInt64?, digest: String?) {
        verified.map { ($0.generation, $0.digest) } ?? (previous?.rulesetGeneration, previous?.tableDigest)
    }
}
