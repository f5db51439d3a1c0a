import BraidKernel
import BraidPlanner

/// A change to Braid's table made in place: one nft transaction that flushes and refills only the
/// chains, maps and sets whose content differs, leaving every other object (the 10,000-rule policy
/// maps, the 100,000-prefix sets) untouched in the kernel.
///
/// A WAN's health or weight changes only the split maps, the `use_…` chains of the policy and the
/// base chains that name the split's modulus, so a failover costs a few hundred bytes of nft instead
/// of reloading the whole table. Possible only when both tables hold the same objects (names,
/// kinds, chain hooks); a map or set whose declaration changed is deleted and declared again, after
/// every chain whose rules name it has been flushed (the split maps' declaration is fixed so that a
/// health change never needs this: a re-created object moves in the kernel's listing). The undo is
/// the same update computed the other way round.
///
/// A large set or map whose elements differ is not refilled: the transaction deletes the elements
/// it lost and adds the ones it gained (`ElementDiff`), so a set edit or a few changed elements of a
/// 100,000-element map cost a few elements of nft, not the whole map. Small ones, and any that lose
/// more than a few elements, are flushed and refilled (see `elementUpdateMinimum` and
/// `elementDeleteMaximum`: nft deletes interval elements slowly).
public struct TableUpdate: Sendable, Equatable {
    public var transaction: NftTransaction
    public var undo: NftTransaction
    /// Names of the objects the transaction rewrites, for tests and logs.
    public var rewritten: [String]

    /// Nil when the tables differ in their objects (a WAN added, a rule kind changed, a chain's hook),
    /// or either text is not Braid's rendering: then only a full reload will do. Also nil when
    /// nothing differs.
    public static func inPlace(from loadedSource: String, to desiredSource: String) -> TableUpdate? {
        guard let loaded = RenderedTable(parsing: loadedSource), let desired = RenderedTable(parsing: desiredSource) else {
            return nil
        }
        return inPlace(from: loaded, to: desired)
    }

    public static func inPlace(from loaded: RenderedTable, to desired: RenderedTable) -> TableUpdate? {
        guard loaded.table == desired.table, let forward = transaction(from: loaded, to: desired),
            let backward = transaction(from: desired, to: loaded)
        else { return nil }
        return TableUpdate(transaction: forward.transaction, undo: backward.transaction, rewritten: forward.rewritten)
    }

    /// Below this many elements (before and after) a set or map whose elements changed is flushed
    /// and refilled rather than edited element by element, unless it only gains elements. nft
    /// 1.0.6 answers any `delete element` command by first listing the elements of every interval
    /// set in the table (its `NFT_CACHE_SETELEM_MAYBE` cache), which with a 100,000-prefix set
    /// costs half a second; refilling a split map of a few dozen elements in a declarative block
    /// costs none of that. Added elements go in a declarative block, which nft loads without that
    /// listing. (The undo of such an add refills the object: it is the exact inverse all the same.)
    public static let elementUpdateMinimum = 1_000

    /// Above this many lost elements a large set or map is flushed and refilled too. nft 1.0.6 pays
    /// for each `delete element` of an interval object about as much as for walking that object:
    /// measured on this machine kind, deleting 100 of 10,000 map elements takes 0.9 s and 1,000 of
    /// them 6.8 s, deleting 10 of 100,000 set prefixes 2.6 s, while refilling 5,000 elements takes
    /// 0.08 s and loading 100,000 prefixes 0.8 s. A failover that passes over thousands of rules
    /// would otherwise spend tens of seconds in nft.
    public static let elementDeleteMaximum = 4

    /// A set or map of concatenated ranges (`ip saddr . ct mark`, flags interval): nft 1.0.6 flushes
    /// one element at a time, each costing a walk of the whole object (measured: 1.5 s to flush
    /// 500 elements, 18 s for 5,000), while deleting the object and declaring it again costs what
    /// loading its new elements costs (22 ms to delete 5,000). So such an object is never flushed:
    /// it is replaced, with the few chains whose rules name it (the rank pipeline's).
    static func isConcatenatedInterval(_ object: RenderedTable.Object) -> Bool {
        let type = object.declaration.first { $0.contains("type") } ?? ""
        return type.contains(" . ") && object.declaration.contains { $0.contains("flags") && $0.contains("interval") }
    }

    private struct Key: Hashable {
        var kind: String
        var name: String
    }

    /// The transaction that turns `loaded` into `desired`, or nil when that needs a full reload.
    private static func transaction(
        from loaded: RenderedTable, to desired: RenderedTable
    ) -> (transaction: NftTransaction, rewritten: [String])? {
        var before: [Key: RenderedTable.Object] = [:]
        for object in loaded.objects {
            guard before.updateValue(object, forKey: Key(kind: object.kind, name: object.name)) == nil else { return nil }
        }
        guard loaded.objects.count == desired.objects.count else { return nil }
        var replaced: Set<Key> = []
        var refilled: Set<Key> = []
        var edited: [Key: ElementDiff] = [:]
        for object in desired.objects {
            let key = Key(kind: object.kind, name: object.name)
            guard let old = before[key] else { return nil }
            if old.declaration != object.declaration {
                // A base chain cannot change its hook in place, and deleting a chain means
                // finding every verdict that jumps to it: a full reload is simpler and as fast.
                guard object.kind == "set" || object.kind == "map" else { return nil }
                replaced.insert(key)
            } else if old.content != object.content {
                if object.kind == "set" || object.kind == "map" {
                    guard let diff = ElementDiff(kind: object.kind, from: old.content, to: object.content) else { return nil }
                    // Not when a small one only loses elements: a `delete element` would cost the
                    // listing described at `elementUpdateMinimum` (seen: seconds per failover); and
                    // not when many go (see `elementDeleteMaximum`).
                    if diff.removed.isEmpty
                        || (diff.size >= elementUpdateMinimum && diff.removed.count <= elementDeleteMaximum)
                    {
                        edited[key] = diff
                        continue
                    }
                    if isConcatenatedInterval(object) {
                        replaced.insert(key)
                        continue
                    }
                }
                refilled.insert(key)
            }
        }
        if replaced.isEmpty && refilled.isEmpty && edited.isEmpty { return nil }
        // A replaced map or set is deleted, so the rules that name it go first (and come back).
        for object in loaded.objects where object.kind == "chain" {
            let key = Key(kind: "chain", name: object.name)
            if replaced.contains(where: { object.references($0.name) }) { refilled.insert(key) }
        }
        let words = desired.table.split(separator: " ")
        guard words.count == 2 else { return nil }
        var operations: [NftOperation] = []
        func kind(_ object: RenderedTable.Object) -> NftObjectKind? { NftObjectKind(rawValue: object.kind) }
        for object in loaded.objects where object.kind == "chain" && refilled.contains(Key(kind: "chain", name: object.name)) {
            operations.append(.flushChain(object.name))
        }
        for object in loaded.objects where replaced.contains(Key(kind: object.kind, name: object.name)) {
            guard let kind = kind(object) else { return nil }
            operations.append(.delete(kind, object.name))
        }
        // Deletes before adds: a key whose value changed is deleted and added back with the new one.
        for object in loaded.objects {
            guard let diff = edited[Key(kind: object.kind, name: object.name)], !diff.removed.isEmpty else { continue }
            operations.append(
                object.kind == "set"
                    ? .deleteSetElements(set: object.name, diff.removed)
                    : .deleteMapElements(map: object.name, keys: diff.removed))
        }
        for object in loaded.objects where object.kind != "chain" && refilled.contains(Key(kind: object.kind, name: object.name))
        {
            guard let kind = kind(object), let flush = NftOperation.flush(kind, object.name) else { return nil }
            operations.append(flush)
        }
        // Declaring an existing object again adds its content; `render()` order puts maps and sets
        // before the chains that name them.
        // An edited set or map is declared again with only its new elements: nft adds them.
        var rewritten: [String] = []
        for object in desired.objects {
            let key = Key(kind: object.kind, name: object.name)
            var written = object
            if let diff = edited[key] {
                rewritten.append("\(object.kind) \(object.name)")
                if diff.added.isEmpty { continue }
                written.content = diff.added.map { "\t\t\t" + $0 }
            } else if replaced.contains(key) || refilled.contains(key) {
                rewritten.append("\(object.kind) \(object.name)")
            } else {
                continue
            }
            guard let typed = NftablesObject(written) else { return nil }
            operations.append(.add(typed))
        }
        let transaction = NftTransaction(family: String(words[0]), table: String(words[1]), operations)
        return (transaction, rewritten)
    }
}
