import BraidConfig
import BraidPlanner
import Foundation
import Synchronization

/// An in-memory kernel with the same interface as `LinuxKernel`, for planner, applier and daemon
/// tests without root. It enforces the kernel rules Braid relies on (a route slot holds one route,
/// a gateway route needs its device up and its gateway on-link, deleting needs an exact match) and
/// can be told to fail a step.
public final class FakeKernel: KernelPort {
    /// The fake's whole state, visible to tests.
    public struct State: Sendable, Equatable {
        public var interfaces: [InterfaceFacts]
        public var policyRules: [PolicyRule] = []
        public var routes: [Route] = []
        /// The declarative table text last loaded, or nil when no table exists.
        public var table: String?
        public var counters: [String: TrafficCounter] = [:]
        public var sysctls: [String: String]
        public var connectionsByMark: [UInt32: Int] = [:]
        /// Other programs' firewalls, as `readForeignRuleset` returns them; none by default.
        public var foreignRuleset: ForeignRuleset = .empty
    }

    private let state: Mutex<State>
    private let failure: Mutex<(@Sendable (KernelStep) -> Bool)?> = Mutex(nil)
    private let log: Mutex<[KernelStep]> = Mutex([])
    /// The nftables generation: kept outside `State` so that snapshots compare the ruleset, not
    /// how many transactions it took.
    private let generation: Mutex<UInt64> = Mutex(1)

    public init(interfaces: [InterfaceFacts], sysctls: [String: String] = [:]) {
        var defaults = ["net/ipv4/ip_forward": "0"]
        for interface in interfaces { defaults["net/ipv4/conf/\(interface.name)/rp_filter"] = "1" }
        state = Mutex(State(interfaces: interfaces, sysctls: defaults.merging(sysctls) { _, given in given }))
    }

    public var snapshot: State { state.withLock { $0 } }
    /// Every step performed, in order, including undo steps.
    public var performed: [KernelStep] { log.withLock { $0 } }

    /// Makes every later step for which `predicate` is true fail, as the kernel would refuse it.
    public func failSteps(where predicate: (@Sendable (KernelStep) -> Bool)?) {
        failure.withLock { $0 = predicate }
    }

    public func update(_ change: (inout State) -> Void) { state.withLock { change(&$0) } }

    /// Another program's nft transaction: it may change Braid's table (or not), and it moves the
    /// generation, as every transaction does.
    public func commitForeignTransaction(_ change: (inout String?) -> Void = { _ in }) {
        state.withLock { change(&$0.table) }
        generation.withLock { $0 += 1 }
    }

    public func readHostFacts() throws(KernelError) -> HostFacts {
        HostFacts(interfaces: state.withLock { $0.interfaces })
    }

    public func readState(layout: KernelLayoutConfig) throws(KernelError) -> ObservedKernelState {
        state.withLock { state in
            ObservedKernelState(policyRules: state.policyRules, routes: state.routes, table: state.table.map { text in
                ObservedTable(counters: Self.names("counter", in: text), maps: Self.names("map", in: text),
                              sets: Self.names("set", in: text), chains: Self.names("chain", in: text),
                              // Like the real one: chain-level changes only; rule edits need the generation.
                              fingerprint: Self.names("chain", in: text).joined(separator: ","))
            })
        }
    }

    public func readRouting() throws(KernelError) -> ObservedKernelState {
        state.withLock { ObservedKernelState(policyRules: $0.policyRules, routes: $0.routes) }
    }

    public func readSysctls(_ keys: [String]) throws(KernelError) -> [String: String] {
        let sysctls = state.withLock { $0.sysctls }
        var values: [String: String] = [:]
        for key in keys {
            guard let value = sysctls[key] else {
                throw .commandFailed(arguments: ["sysctl", "-n", key], status: 255, standardError: "sysctl: cannot stat /proc/sys/\(key): No such file or directory")
            }
            values[key] = value
        }
        return values
    }

    public func perform(_ step: KernelStep) throws(KernelError) {
        if failure.withLock({ $0?(step) ?? false }) {
            throw .commandFailed(arguments: ["fake", "\(step)"], status: 2, standardError: "injected failure")
        }
        let outcome: KernelError? = state.withLock { state in
            switch step {
            case .addRoute(let route):
                if state.routes.contains(where: { $0.slot == route.slot }) { return refuse(step, "RTNETLINK answers: File exists") }
                guard let device = state.interfaces.first(where: { $0.name == route.device }), device.isUp else {
                    return refuse(step, "Error: Device for nexthop is not up.")
                }
                guard device.addresses.contains(where: { $0.hasOnLink(route.gateway) }) else {
                    return refuse(step, "Error: Nexthop has invalid gateway.")
                }
                state.routes.append(route)
            case .deleteRoute(let route):
                guard let index = state.routes.firstIndex(of: route) else { return refuse(step, "RTNETLINK answers: No such process") }
                state.routes.remove(at: index)
            case .replaceRoute(_, let new):
                guard state.interfaces.first(where: { $0.name == new.device })?.addresses.contains(where: { $0.hasOnLink(new.gateway) }) == true else {
                    return refuse(step, "Error: Nexthop has invalid gateway.")
                }
                state.routes.removeAll { $0.slot == new.slot }
                state.routes.append(new)
            case .addRule(let rule):
                if state.policyRules.contains(rule) { return refuse(step, "RTNETLINK answers: File exists") }
                // The kernel keeps rules ordered by priority, a new rule after others of the same priority.
                let index = state.policyRules.firstIndex { $0.priority > rule.priority } ?? state.policyRules.endIndex
                state.policyRules.insert(rule, at: index)
            case .deleteRule(let rule):
                guard let index = state.policyRules.firstIndex(of: rule) else { return refuse(step, "RTNETLINK answers: No such file or directory") }
                state.policyRules.remove(at: index)
            case .loadRuleset(let transaction, _):
                guard let start = transaction.range(of: "table inet braid {") else { return refuse(step, "Error: syntax error") }
                if Self.isInPlace(transaction) {
                    switch Self.applyInPlace(transaction, to: state.table) {
                    case .success(let table): state.table = table
                    case .failure(let refusal): return refuse(step, refusal.message)
                    }
                    break
                }
                let text = String(transaction[start.lowerBound...])
                let kept = state.counters.filter { Self.names("counter", in: text).contains($0.key) }
                state.table = text
                state.counters = Dictionary(uniqueKeysWithValues: Self.names("counter", in: text).map { ($0, kept[$0] ?? TrafficCounter(packets: 0, bytes: 0)) })
            case .restoreRuleset(let transaction) where Self.isInPlace(transaction):
                switch Self.applyInPlace(transaction, to: state.table) {
                case .success(let table): state.table = table
                case .failure(let refusal): return refuse(step, refusal.message)
                }
            case .restoreRuleset(let transaction):
                state.table = transaction.range(of: "table inet braid {").map { String(transaction[$0.lowerBound...]) }
                let listing = state.table
                let names = listing.map { Self.names("counter", in: $0) } ?? []
                state.counters = Dictionary(uniqueKeysWithValues: names.map { ($0, state.counters[$0] ?? TrafficCounter(packets: 0, bytes: 0)) })
            case .deleteTable:
                state.table = nil
                state.counters = [:]
            case .setSysctl(let key, let value, _):
                guard state.sysctls[key] != nil else { return refuse(step, "sysctl: cannot stat /proc/sys/\(key)") }
                state.sysctls[key] = value
            }
            return nil
        }
        if let outcome { throw outcome }
        switch step {
        case .loadRuleset, .restoreRuleset, .deleteTable: generation.withLock { $0 += 1 }
        default: break
        }
        log.withLock { $0.append(step) }
    }

    public func countConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int {
        state.withLock { $0.connectionsByMark[mark & mask] ?? 0 }
    }

    public func flushConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int {
        state.withLock { state in
            let count = state.connectionsByMark[mark & mask] ?? 0
            state.connectionsByMark[mark & mask] = nil
            return count
        }
    }

    public func readCounters() throws(KernelError) -> [String: TrafficCounter] {
        state.withLock { $0.counters }
    }

    public func readRulesetGeneration() throws(KernelError) -> UInt64 {
        generation.withLock { $0 }
    }

    public func readTableListing() throws(KernelError) -> String? {
        state.withLock { $0.table }
    }

    public func readForeignRuleset() throws(KernelError) -> ForeignRuleset {
        state.withLock { $0.foreignRuleset }
    }

    private func refuse(_ step: KernelStep, _ message: String) -> KernelError {
        .commandFailed(arguments: ["fake", "\(step)"], status: 2, standardError: message)
    }

    /// A transaction that changes objects of the existing table (`TableUpdate`) rather than
    /// replacing the table.
    static func isInPlace(_ transaction: String) -> Bool {
        !transaction.hasPrefix("add table") && (transaction.hasPrefix("flush ") || transaction.hasPrefix("delete "))
    }

    struct Refusal: Error { var message: String }

    /// Applies `flush chain|map|set`, `delete map|set` and a declarative block to `table` as nft
    /// does: re-declaring an object adds its content, a declaration must match the existing one, and
    /// nothing may be left naming an object that does not exist.
    static func applyInPlace(_ transaction: String, to table: String?) -> Result<String, Refusal> {
        guard let table, var model = RenderedTable(parsing: table) else { return .failure(Refusal(message: "Error: No such file or directory; table inet braid")) }
        guard let start = transaction.range(of: "table inet braid {"),
              let block = RenderedTable(parsing: String(transaction[start.lowerBound...])) else { return .failure(Refusal(message: "Error: syntax error")) }
        // A deleted object keeps its place until the end, so one declared again lands where it was.
        var deleted: Set<Int> = []
        func find(_ kind: String, _ name: String) -> Int? {
            model.objects.indices.first { !deleted.contains($0) && model.objects[$0].kind == kind && model.objects[$0].name == name }
        }
        for command in transaction[..<start.lowerBound].split(separator: "\n") {
            let words = command.split(separator: " ").map(String.init)
            guard words.count == 5, words[2] == "inet", words[3] == "braid", let index = find(words[1], words[4]) else {
                return .failure(Refusal(message: "Error: No such file or directory; \(command)"))
            }
            switch words[0] {
            case "flush": model.objects[index].content = []
            case "delete" where words[1] == "map" || words[1] == "set":
                if let user = model.objects.first(where: { $0.kind == "chain" && $0.references(words[4]) }) {
                    return .failure(Refusal(message: "Error: Could not process rule: Device or resource busy (\(words[4]) is used by chain \(user.name))"))
                }
                deleted.insert(index)
            default: return .failure(Refusal(message: "Error: syntax error, unexpected \(words[0])"))
            }
        }
        for object in block.objects {
            if let index = find(object.kind, object.name) {
                guard model.objects[index].declaration == object.declaration else {
                    return .failure(Refusal(message: "Error: Could not process rule: File exists (\(object.kind) \(object.name) is declared differently)"))
                }
                model.objects[index].content += object.content
                model.objects[index].leading = object.leading
            } else if let index = deleted.first(where: { model.objects[$0].kind == object.kind && model.objects[$0].name == object.name }) {
                deleted.remove(index)
                model.objects[index] = object
            } else {
                model.objects.append(object)
            }
        }
        model.objects = model.objects.indices.filter { !deleted.contains($0) }.map { model.objects[$0] }
        // The kernel refuses a rule naming a missing set or map, and a verdict naming a missing chain.
        let collections = Set(model.objects.filter { $0.kind == "set" || $0.kind == "map" }.map(\.name))
        let chains = Set(model.objects.filter { $0.kind == "chain" }.map(\.name))
        for object in model.objects {
            for line in object.content where !line.hasPrefix("\t\t#") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "," })
                for (index, word) in words.enumerated() {
                    if object.kind == "chain", word.hasPrefix("@"), !collections.contains(String(word.dropFirst())) {
                        return .failure(Refusal(message: "Error: No such file or directory; \(word) in chain \(object.name)"))
                    }
                    if (word == "goto" || word == "jump"), index + 1 < words.count, !chains.contains(String(words[index + 1])) {
                        return .failure(Refusal(message: "Error: No such file or directory; chain \(words[index + 1]) in \(object.kind) \(object.name)"))
                    }
                }
            }
        }
        return .success(model.render())
    }

    static func names(_ kind: String, in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
            guard words.count == 3, words[0] == kind, words[2] == "{" else { return nil }
            return words[1]
        }
    }
}
