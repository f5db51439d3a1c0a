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
        for object in desired.objects {
            let key = Key(kind: object.kind, name: object.name)
            guard let old = before[key] else { return nil }
            if old.declaration != object.declaration {
                // A base chain cannot change its hook in place, and deleting a chain means
                // finding every verdict that jumps to it: a full reload is simpler and as fast.
                guard object.kind == "set" || object.kind == "map" else { return nil }
                replaced.insert(key)
            } else if old.content != object.content {
                refilled.insert(key)
            }
        }
        if replaced.isEmpty && refilled.isEmpty { return nil }
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
        for object in loaded.objects where object.kind != "chain" && refilled.contains(Key(kind: object.kind, name: object.name))
        {
            guard let kind = kind(object), let flush = NftOperation.flush(kind, object.name) else { return nil }
            operations.append(flush)
        }
        // Declaring an existing object again adds its content; `render()` order puts maps and sets
        // before the chains that name them.
        let written = desired.objects.filter {
            replaced.contains(Key(kind: $0.kind, name: $0.name)) || refilled.contains(Key(kind: $0.kind, name: $0.name))
        }
        for object in written {
            guard let typed = NftablesObject(object) else { return nil }
            operations.append(.add(typed))
        }
        let transaction = NftTransaction(family: String(words[0]), table: String(words[1]), operations)
        return (transaction, written.map { "\($0.kind) \($0.name)" })
    }
}
