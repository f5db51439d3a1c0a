import BraidConfig
import BraidKernel
import BraidPlanner
import Foundation
import Synchronization

/// An in-memory kernel with the same interface as `LinuxKernel`, for planner, applier and daemon
/// tests without root. It enforces the kernel rules Braid relies on (a route key holds one route,
/// a gateway route needs its device up and its gateway on-link, deleting needs an exact match; an
/// nft transaction that names a missing object changes nothing, see `NftObjectModel`) and can be
/// told to fail a step.
public final class FakeKernel: KernelPort {
    /// The fake's whole state, visible to tests.
    public struct State: Sendable, Equatable {
        public var interfaces: [InterfaceFacts]
        public var policyRules: [PolicyRule] = []
        public var routes: [Route] = []
        /// Braid's nft table: transactions apply to it (or are refused) as in the kernel.
        public var nftables = NftObjectModel()
        public var counters: [String: TrafficCounter] = [:]
        public var sysctls: [String: String]
        /// ct mark → how many conntrack entries carry it (the whole 32-bit mark, other tools' bits too).
        public var connectionsByMark: [UInt32: Int] = [:]
        /// IPv6 conntrack entries by mark, apart so a per-family flush can be told from a whole one;
        /// `connectionsByMark` holds the IPv4 ones (and all, for tests that do not care).
        public var ipv6ConnectionsByMark: [UInt32: Int] = [:]
        /// Other programs' firewalls, as `readForeignRuleset` returns them; none by default.
        public var foreignRuleset: ForeignRuleset = .empty

        /// The table as `NftablesRuleset.render()` writes it, or nil when no table exists.
        public var table: String? { nftables.render() }
    }

    private let state: Mutex<State>
    private let failure: Mutex<(@Sendable (KernelStep) -> Bool)?> = Mutex(nil)
    private let log: Mutex<[KernelStep]> = Mutex([])
    private let afterStep: Mutex<(@Sendable (KernelStep, inout State) -> Void)?> = Mutex(nil)
    private let flushLog: Mutex<[UInt32]> = Mutex([])
    /// The nftables generation: kept outside `State` so that snapshots compare the ruleset, not
    /// how many transactions it took.
    private let generation: Mutex<UInt64> = Mutex(1)

    public init(interfaces: [InterfaceFacts], sysctls: [String: String] = [:]) {
        // As a fresh Linux host has them: IPv6 forwarding off, router advertisements accepted (1).
        var defaults = ["net/ipv4/ip_forward": "0", "net/ipv6/conf/all/forwarding": "0"]
        for interface in interfaces {
            defaults["net/ipv4/conf/\(interface.name)/rp_filter"] = "1"
            defaults["net/ipv6/conf/\(interface.name)/accept_ra"] = "1"
        }
        state = Mutex(State(interfaces: interfaces, sysctls: defaults.merging(sysctls) { _, given in given }))
    }

    public var snapshot: State { state.withLock { $0 } }
    /// Every step performed, in order, including undo steps.
    public var performed: [KernelStep] { log.withLock { $0 } }
    /// The mark of every `flushConnections` call, in order, whether or not it deleted anything.
    public var flushedMarks: [UInt32] { flushLog.withLock { $0 } }

    /// Makes every later step for which `predicate` is true fail, as the kernel would refuse it.
    public func failSteps(where predicate: (@Sendable (KernelStep) -> Bool)?) {
        failure.withLock { $0 = predicate }
    }

    public func update(_ change: (inout State) -> Void) { state.withLock { change(&$0) } }

    /// Runs `change` right after every later step that succeeds, as another program changing the
    /// kernel while an apply runs would (deleting the route just added, say).
    public func afterEachStep(_ change: (@Sendable (KernelStep, inout State) -> Void)?) {
        afterStep.withLock { $0 = change }
    }

    /// A link or address change: replaces the interface of that name, or adds it. (The daemon
    /// learns of it from the `.linkChanged` event its test sends, as rtnetlink would tell it.)
    public func setInterface(_ interface: InterfaceFacts) {
        state.withLock { state in
            if let index = state.interfaces.firstIndex(where: { $0.name == interface.name }) {
                state.interfaces[index] = interface
            } else {
                state.interfaces.append(interface)
                // A new interface comes with its /proc/sys/net/ipv4/conf entry, at the default.
                let key = "net/ipv4/conf/\(interface.name)/rp_filter"
                if state.sysctls[key] == nil { state.sysctls[key] = "1" }
            }
        }
    }

    /// Removes an interface, as when a PPP session ends or a USB modem is unplugged. Like the
    /// kernel, drops every route through it (Braid's included).
    public func removeInterface(named name: String) {
        state.withLock { state in
            state.interfaces.removeAll { $0.name == name }
            state.routes.removeAll { $0.device == name }
            state.sysctls["net/ipv4/conf/\(name)/rp_filter"] = nil
        }
    }

    /// Sets the default routes other software has on an interface (`InterfaceFacts.defaultRoutes`),
    /// as a DHCP client, pppd or RA would install them. (The daemon learns of it from the
    /// `.routingChanged` event its test sends.)
    public func setDefaultRoutes(_ routes: [KernelDefaultRoute], on name: String) {
        state.withLock { state in
            guard let index = state.interfaces.firstIndex(where: { $0.name == name }) else { return }
            state.interfaces[index].defaultRoutes = routes
        }
    }

    /// Another program deletes Braid's table (`nft delete table inet braid`, or `nft flush ruleset`).
    public func deleteTable() {
        commitForeignTransaction { $0 = nil }
        state.withLock { $0.counters = [:] }
    }

    /// Another program's nft transaction: it may change Braid's table (or not), and it moves the
    /// generation, as every transaction does. `change` edits the table's text, which must stay a
    /// table as `render()` writes it.
    public func commitForeignTransaction(_ change: (inout String?) -> Void = { _ in }) {
        state.withLock { state in
            var text = state.table
            change(&text)
            guard text != state.table else { return }
            guard let text else { state.nftables = NftObjectModel(); return }
            guard let table = NftablesRuleset(parsing: text) else {
                preconditionFailure("not a table as render() writes it:\n\(text)")
            }
            state.nftables = NftObjectModel(table: table)
        }
        generation.withLock { $0 += 1 }
    }

    public func readHostFacts() throws(KernelError) -> HostFacts {
        HostFacts(interfaces: state.withLock { $0.interfaces })
    }

    public func readState(layout: KernelLayoutConfig) throws(KernelError) -> ObservedKernelState {
        state.withLock { state in
            ObservedKernelState(
                policyRules: state.policyRules, routes: state.routes,
                table: state.nftables.table.map { table in
                    ObservedTable(
                        chains: table.chains.map(\.name),
                        // Like the real one: chain-level changes only; rule edits need the generation.
                        fingerprint: table.chains.map(\.name).joined(separator: ","))
                })
        }
    }

    public func readObjectNames() throws(KernelError) -> TableObjectNames {
        state.withLock { state in
            state.nftables.table.map {
                TableObjectNames(
                    counters: $0.counters.map(\.name), maps: $0.maps.map(\.name),
                    sets: $0.sets.map(\.name))
            } ?? TableObjectNames()
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
                throw .sysctlUnreadable(key: key, reason: "No such file or directory")
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
                if state.routes.contains(where: { $0.key == route.key }) { return refuse(step, "RTNETLINK answers: File exists") }
                guard let device = state.interfaces.first(where: { $0.name == route.device }), device.isUp else {
                    return refuse(step, "Error: Device for nexthop is not up.")
                }
                // A device route (point-to-point link) has no next hop to check.
                if let gateway = route.gateway, !device.hasOnLink(gateway) {
                    return refuse(step, "Error: Nexthop has invalid gateway.")
                }
                state.routes.append(route)
            case .deleteRoute(let route):
                guard let index = state.routes.firstIndex(of: route) else {
                    return refuse(step, "RTNETLINK answers: No such process")
                }
                state.routes.remove(at: index)
            case .replaceRoute(_, let new):
                guard let device = state.interfaces.first(where: { $0.name == new.device }) else {
                    return refuse(step, "Cannot find device \"\(new.device)\"")
                }
                if let gateway = new.gateway, !device.hasOnLink(gateway) {
                    return refuse(step, "Error: Nexthop has invalid gateway.")
                }
                state.routes.removeAll { $0.key == new.key }
                state.routes.append(new)
            case .addRule(let rule):
                if state.policyRules.contains(rule) { return refuse(step, "RTNETLINK answers: File exists") }
                // The kernel keeps rules ordered by priority, a new rule after others of the same priority.
                let index = state.policyRules.firstIndex { $0.priority > rule.priority } ?? state.policyRules.endIndex
                state.policyRules.insert(rule, at: index)
            case .deleteRule(let rule):
                guard let index = state.policyRules.firstIndex(of: rule) else {
                    return refuse(step, "RTNETLINK answers: No such file or directory")
                }
                state.policyRules.remove(at: index)
            case .loadRuleset(let transaction, _), .restoreRuleset(let transaction):
                if let refusal = Self.apply(transaction, to: &state) { return refuse(step, refusal.description) }
            case .deleteTable:
                if let refusal = Self.apply(.deletingTable(), to: &state) { return refuse(step, refusal.description) }
            case .setSysctl(let key, let value, _):
                guard state.sysctls[key] != nil else { return refuse(step, "sysctl: cannot stat /proc/sys/\(key)") }
                state.sysctls[key] = value
            }
            return nil
        }
        if let outcome { throw outcome }
        if let change = afterStep.withLock({ $0 }) { state.withLock { change(step, &$0) } }
        switch step {
        case .loadRuleset, .restoreRuleset, .deleteTable: generation.withLock { $0 += 1 }
        default: break
        }
        log.withLock { $0.append(step) }
    }

    /// As `conntrack -L -m mark/mask`: every entry whose ct mark, under `mask`, equals `mark`.
    public func countConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int {
        state.withLock { state in
            state.connectionsByMark.filter { $0.key & mask == mark & mask }.values.reduce(0, +)
        }
    }

    public func countConnectionsByMark(mask: UInt32) throws(KernelError) -> [UInt32: Int] {
        state.withLock { state in
            state.connectionsByMark.reduce(into: [:]) { groups, entry in groups[entry.key & mask, default: 0] += entry.value }
        }
    }

    public func flushConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int {
        flushLog.withLock { $0.append(mark & mask) }
        return state.withLock { state in
            let matching = state.connectionsByMark.filter { $0.key & mask == mark & mask }
            for key in matching.keys { state.connectionsByMark[key] = nil }
            let matching6 = state.ipv6ConnectionsByMark.filter { $0.key & mask == mark & mask }
            for key in matching6.keys { state.ipv6ConnectionsByMark[key] = nil }
            return matching.values.reduce(0, +) + matching6.values.reduce(0, +)
        }
    }

    /// Every per-family flush, in order: the mark and the family.
    public var flushedFamilyMarks: [FamilyFlush] { familyFlushLog.withLock { $0 } }
    public struct FamilyFlush: Sendable, Equatable {
        public var mark: UInt32
        public var family: AddressFamily
        public init(mark: UInt32, family: AddressFamily) {
            self.mark = mark
            self.family = family
        }
    }
    private let familyFlushLog: Mutex<[FamilyFlush]> = Mutex([])

    public func flushConnections(mark: UInt32, mask: UInt32, family: AddressFamily) throws(KernelError) -> Int {
        familyFlushLog.withLock { $0.append(FamilyFlush(mark: mark & mask, family: family)) }
        return state.withLock { state in
            switch family {
            case .ipv4:
                let matching = state.connectionsByMark.filter { $0.key & mask == mark & mask }
                for key in matching.keys { state.connectionsByMark[key] = nil }
                return matching.values.reduce(0, +)
            case .ipv6:
                let matching = state.ipv6ConnectionsByMark.filter { $0.key & mask == mark & mask }
                for key in matching.keys { state.ipv6ConnectionsByMark[key] = nil }
                return matching.values.reduce(0, +)
            }
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

    /// Applies `transaction` whole or not at all; named counters that stay keep their totals.
    private static func apply(_ transaction: NftTransaction, to state: inout State) -> NftRefusal? {
        do {
            try state.nftables.apply(transaction)
        } catch {
            return error
        }
        let names = state.nftables.table?.counters.map(\.name) ?? []
        state.counters = Dictionary(
            uniqueKeysWithValues: names.map { ($0, state.counters[$0] ?? TrafficCounter(packets: 0, bytes: 0)) })
        return nil
    }
}
