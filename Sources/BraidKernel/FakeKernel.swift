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
                let text = String(transaction[start.lowerBound...])
                let kept = state.counters.filter { Self.names("counter", in: text).contains($0.key) }
                state.table = text
                state.counters = Dictionary(uniqueKeysWithValues: Self.names("counter", in: text).map { ($0, kept[$0] ?? TrafficCounter(packets: 0, bytes: 0)) })
            case .restoreRuleset(let transaction):
                let listing = transaction.flatMap { text in text.range(of: "table inet braid {").map { String(text[$0.lowerBound...]) } }
                state.table = listing
                let names = listing.map { Self.names("counter", in: $0) } ?? []
                state.counters = Dictionary(uniqueKeysWithValues: names.map { ($0, state.counters[$0] ?? TrafficCounter(packets: 0, bytes: 0)) })
            case .setSysctl(let key, let value, _):
                guard state.sysctls[key] != nil else { return refuse(step, "sysctl: cannot stat /proc/sys/\(key)") }
                state.sysctls[key] = value
            }
            return nil
        }
        if let outcome { throw outcome }
        switch step {
        case .loadRuleset, .restoreRuleset: generation.withLock { $0 += 1 }
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

    static func names(_ kind: String, in text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(separator: " ", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
            guard words.count == 3, words[0] == kind, words[2] == "{" else { return nil }
            return words[1]
        }
    }
}
