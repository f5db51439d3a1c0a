import BraidPlanner

/// nft syntax for a transaction, for `nft -f -`. Commands (flush, delete) are one line each; a
/// run of object declarations becomes one declarative `table … { … }` block written by
/// `NftablesRuleset.render()`, so a full load is the text `braid plan` prints. Inside one block nft
/// creates every object before any rule, so a rule may name a chain or map declared further down;
/// a declaration out of `render()`'s order (counters, sets, maps, chains) starts a new block.
enum NftTransactionRenderer {
    static func render(_ transaction: NftTransaction) -> String {
        let table = "\(transaction.family) \(transaction.table)"
        var text = ""
        var block: NftablesRuleset?
        var blockRank = 0
        // A declaration of a kind `render()` writes earlier than the last one starts a new block.
        func closeBlock() {
            if let pending = block { text += pending.render() }
            block = nil
        }
        func line(_ command: String) {
            closeBlock()
            text += command + "\n"
        }
        func declare(_ rank: Int, _ add: (inout NftablesRuleset) -> Void) {
            if block == nil || rank < blockRank {
                closeBlock()
                block = NftablesRuleset(family: transaction.family, name: transaction.table)
            }
            blockRank = rank
            add(&block!)
        }
        for operation in transaction.operations {
            switch operation {
            case .addTable: line("add table \(table)")
            case .flushTable: line("flush table \(table)")
            case .deleteTable: line("delete table \(table)")
            case .addCounter(let counter): declare(operation.declarationRank!) { $0.counters.append(counter) }
            case .addSet(let set): declare(operation.declarationRank!) { $0.sets.append(set) }
            case .addMap(let map): declare(operation.declarationRank!) { $0.maps.append(map) }
            case .addChain(let chain): declare(operation.declarationRank!) { $0.chains.append(chain) }
            case .deleteCounter(let name): line("delete counter \(table) \(name)")
            case .flushSet(let name): line("flush set \(table) \(name)")
            case .deleteSet(let name): line("delete set \(table) \(name)")
            case .flushMap(let name): line("flush map \(table) \(name)")
            case .deleteMap(let name): line("delete map \(table) \(name)")
            case .flushChain(let name): line("flush chain \(table) \(name)")
            case .deleteChain(let name): line("delete chain \(table) \(name)")
            case .addRule(let chain, let rule): line("add rule \(table) \(chain) \(rule.text)")
            case .addSetElements(_, let elements) where elements.isEmpty:
                break  // nft refuses `{ }`; adding nothing is nothing to say
            case .addMapElements(_, let elements) where elements.isEmpty:
                break
            case .deleteSetElements(_, let elements) where elements.isEmpty:
                break
            case .deleteMapElements(_, let keys) where keys.isEmpty:
                break
            case .deleteSetElements(let set, let elements):
                line("delete element \(table) \(set) { \(elements.joined(separator: ", ")) }")
            case .deleteMapElements(let map, let keys):
                line("delete element \(table) \(map) { \(keys.joined(separator: ", ")) }")
            case .addSetElements(let set, let elements):
                line("add element \(table) \(set) { \(elements.joined(separator: ", ")) }")
            case .addMapElements(let map, let elements):
                line("add element \(table) \(map) { \(elements.map { "\($0.key) : \($0.value)" }.joined(separator: ", ")) }")
            case .loadListing(let listing):
                closeBlock()
                text += listing.hasSuffix("\n") || listing.isEmpty ? listing : listing + "\n"
            }
        }
        closeBlock()
        return text
    }
}
