import BraidConfig
import Foundation

/// A connection to explain: where from, where to, and (optionally) protocol and port.
public struct Flow: Sendable, Equatable {
    /// Of one family with `destination` (a connection has one).
    public var source: IPAddress
    public var destination: IPAddress
    public var transport: TransportProtocol?
    public var destinationPort: UInt16?

    public init(
        source: IPAddress, destination: IPAddress, transport: TransportProtocol? = nil, destinationPort: UInt16? = nil
    ) {
        self.source = source
        self.destination = destination
        self.transport = transport
        self.destinationPort = destinationPort
    }

    public init(
        source: IPv4Address, destination: IPv4Address, transport: TransportProtocol? = nil, destinationPort: UInt16? = nil
    ) {
        self.init(source: .v4(source), destination: .v4(destination), transport: transport, destinationPort: destinationPort)
    }

    public var family: AddressFamily { source.family }
}

/// The answer to "which WAN would this flow take, and why": the steps Braid's ruleset takes for a
/// new connection, in the same order and with the same availability the planner used.
public struct FlowExplanation: Sendable, Equatable {
    /// One line per decision, in order.
    public var steps: [String]
    /// The verdict in one line.
    public var outcome: String
    /// The WANs the flow may leave by (with their share when balanced); empty for main/drop/forwards.
    public var wans: [String]
}

/// Walks a flow through the config as the compiled ruleset would. Pure, like the planner.
public enum FlowExplainer {
    public static func explain(
        _ flow: Flow, config: Config, host: HostFacts, availability: WanAvailability = .allAvailable
    ) -> FlowExplanation {
        var steps: [String] = []
        let family = flow.family
        guard flow.destination.family == family else {
            return FlowExplanation(
                steps: ["\(flow.source) is \(family) and \(flow.destination) is \(flow.destination.family)"],
                outcome: "no such connection: source and destination must be of one family", wans: [])
        }
        if family == .ipv6, !config.wans.contains(where: { $0.ipv6 != nil }) {
            return FlowExplanation(
                steps: ["no WAN has an `ipv6:` section, so Braid leaves IPv6 alone"],
                outcome: "no WAN mark: the main routing table decides (IPv6 is not balanced)", wans: [])
        }
        let carrying = config.wans.filter { $0.carries(family) }
        let usable = carrying.filter { GatewayPlanner.isUsable($0, host: host, availability: availability, family: family) }.map(
            \.name)
        let down = carrying.map(\.name).filter { !usable.contains($0) }
        if family == .ipv6, carrying.count < config.wans.count {
            steps.append(
                "IPv6 is carried by \(carrying.map(\.name).joined(separator: ", ")) only (the WANs with an `ipv6:` section)")
        }
        // Single-stack configs read as they always have; dual-stack ones name the family.
        let forFamily = config.wans.contains { $0.ipv6 != nil } ? " for \(family)" : ""
        steps.append(
            down.isEmpty ? "every WAN is usable\(forFamily)" : "not usable now\(forFamily): \(down.joined(separator: ", "))")

        // Inbound: a port forward on a WAN address.
        for forward in config.portForwards {
            let wans = forward.wans.isEmpty ? config.wans : config.wans.filter { forward.wans.contains($0.name) }
            let addresses = wans.flatMap { PortForwardPlanner.addresses(of: $0, family: family, host: host) }
            guard addresses.contains(flow.destination), flow.transport == forward.transport,
                let port = flow.destinationPort, forward.ports.contains(port)
            else { continue }
            // Without hairpin only arrivals on the WANs are translated; a LAN client reaches the router itself.
            let fromLan = config.lan.interfaces.contains { name in
                host.interfaces[name].map { $0.subnets.contains { $0.contains(flow.source) } } ?? false
            }
            if !forward.hairpin && fromLan {
                steps.append(
                    "port forward \"\(forward.name)\" has hairpin off: a LAN client using \(flow.destination) is not forwarded")
                continue
            }
            let targets = forward.targets.filter { $0.address.family == family }.map(\.description).joined(separator: ", ")
            steps.append(
                "port forward \"\(forward.name)\": \(forward.transport.rawValue) \(forward.ports) on \(flow.destination) → \(targets)"
            )
            return FlowExplanation(
                steps: steps,
                outcome: "forwarded to \(targets) (port forward \"\(forward.name)\"); replies leave by the WAN it arrived on",
                wans: [])
        }

        // As the ruleset: the router's own addresses, and what main routes to a non-WAN interface,
        // take no WAN (only connected subnets are known here; a VPN's routes are not).
        let wanInterfaces = Set(config.wans.map(\.interface))
        let interfaces = host.interfaces.values.sorted { $0.name < $1.name }
        if let own = interfaces.first(where: { $0.ownAddresses.contains(flow.destination) }) {
            steps.append("\(flow.destination) is the router's own address (on \(own.name))")
            return FlowExplanation(steps: steps, outcome: "no WAN: addressed to the router itself", wans: [])
        }
        if let local = interfaces.first(where: {
            !wanInterfaces.contains($0.name) && $0.subnets.contains { $0.contains(flow.destination) }
        }) {
            steps.append(
                "\(flow.destination) is on \(local.name)'s subnet, which main routes directly; rules and the split only choose among WANs"
            )
            return FlowExplanation(steps: steps, outcome: "no WAN: main routes it to \(local.name)", wans: [])
        }

        let setsByName = Dictionary(config.sets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for (index, rule) in config.rules.enumerated() {
            let label = "rule \(index + 1) \"\(rule.name)\""
            if let mismatch = mismatch(rule, flow, sets: setsByName) {
                steps.append("\(label): no match (\(mismatch))")
                continue
            }
            for target in rule.use {
                switch target {
                case .wan(let name) where usable.contains(name):
                    steps.append("\(label): matches; \(name) is its first usable choice")
                    return FlowExplanation(steps: steps, outcome: "leaves by \(name) (\(label))", wans: [name])
                case .wan(let name):
                    steps.append("\(label): matches, but \(name) is not usable")
                case .balance:
                    steps.append("\(label): matches and says balance")
                    // The ruleset's `balance` returns to the prerouting chain, whose last rule is then the default policy's.
                    if let name = config.defaultPolicy {
                        steps.append("balance means default_policy \(name) for LAN traffic")
                        return throughPolicy(
                            name, stickySeconds: nil, flow: flow, config: config, usable: usable, steps: steps, reason: label)
                    }
                    return balanced(flow, config: config, carrying: carrying, usableNames: usable, steps: steps, reason: label)
                case .main:
                    steps.append("\(label): matches and says main")
                    return FlowExplanation(
                        steps: steps, outcome: "no WAN mark: the main routing table decides (\(label))", wans: [])
                case .drop:
                    steps.append(
                        rule.use.count == 1
                            ? "\(label): matches and says drop"
                            : "\(label): matches; none of its WANs is usable and it ends with drop")
                    return FlowExplanation(steps: steps, outcome: "dropped (\(label))", wans: [])
                case .policy(let name, let sticky):
                    steps.append("\(label): matches and says policy \(name)")
                    return throughPolicy(
                        name, stickySeconds: sticky, flow: flow, config: config, usable: usable, steps: steps, reason: label)
                }
            }
            steps.append("\(label): none of its WANs is usable; trying the next rule")
        }
        if !config.rules.isEmpty { steps.append("no rule decided") }
        if let name = config.defaultPolicy {
            steps.append("default_policy is \(name)")
            return throughPolicy(
                name, stickySeconds: nil, flow: flow, config: config, usable: usable, steps: steps, reason: "default_policy")
        }
        return balanced(flow, config: config, carrying: carrying, usableNames: usable, steps: steps, reason: "no rule")
    }

    static func balanced(
        _ flow: Flow, config: Config, carrying: [WanConfig], usableNames: [String], steps: [String], reason: String
    ) -> FlowExplanation {
        var steps = steps
        let usable = config.wans.indices.filter { usableNames.contains(config.wans[$0].name) }
        let carryingNames = Set(carrying.map(\.name))
        // As the planner: with no usable WAN the configured weights of the family's WANs stay in force.
        let weights =
            (usable.isEmpty
            ? config.wans.indices.filter { carryingNames.contains(config.wans[$0].name) }.map { ($0, config.wans[$0].weight) }
            : GatewayPlanner.splitWeights(config, usable: usable)).filter { $0.weight > 0 }
        let total = weights.map(\.weight).reduce(0, +)
        if config.sticky == .source, !weights.isEmpty {
            let bucket = StickyAssignment.bucket(for: flow.source)
            let ranges = GatewayPlanner.stickyBuckets(config, weights: weights)
            if let range = ranges.first(where: { ($0.lower...$0.upper).contains(bucket) }) {
                let name = config.wans[range.wanIndex].name
                steps.append(
                    "sticky: source \(flow.source)\(flow.family == .ipv6 ? "'s /64" : "") hashes to bucket \(bucket) of \(StickyAssignment.bucketCount), which belongs to \(name)"
                )
                return FlowExplanation(steps: steps, outcome: "leaves by \(name) (sticky, \(reason))", wans: [name])
            }
        }
        let shares = weights.map { entry -> String in
            let percent = Double(entry.weight) * 100 / Double(max(total, 1))
            return "\(config.wans[entry.wanIndex].name) \(percent.formatted(.number.precision(.fractionLength(0...1))))%"
        }
        steps.append("balanced by weight over the usable WANs of the lowest tier: \(shares.joined(separator: ", "))")
        return FlowExplanation(
            steps: steps, outcome: "balanced: \(shares.joined(separator: ", ")) (\(reason))",
            wans: weights.map { config.wans[$0.wanIndex].name })
    }

    /// Why `rule` does not match `flow`, or nil when it does.
    static func mismatch(_ rule: TrafficRuleConfig, _ flow: Flow, sets: [String: AddressSetConfig]) -> String? {
        if !rule.sources.isEmpty, !rule.sources.contains(where: { $0.contains(flow.source) }) {
            return "source \(flow.source) is not in \(rule.sources.map(\.description).joined(separator: ", "))"
        }
        if !rule.destinations.isEmpty, !rule.destinations.contains(where: { $0.contains(flow.destination) }) {
            return "destination \(flow.destination) is not in \(rule.destinations.map(\.description).joined(separator: ", "))"
        }
        if let setName = rule.destinationSet, !(sets[setName]?.entries.contains { $0.contains(flow.destination) } ?? false) {
            return "destination \(flow.destination) is not in set \(setName)"
        }
        if let transport = rule.transport {
            guard flow.transport == transport else {
                return "protocol is \(flow.transport?.rawValue ?? "unknown"), not \(transport.rawValue)"
            }
            if !rule.destinationPorts.isEmpty {
                guard let port = flow.destinationPort else { return "no destination port given" }
                if !rule.destinationPorts.contains(where: { $0.contains(port) }) {
                    return "port \(port) is not in \(rule.destinationPorts.map(\.description).joined(separator: ", "))"
                }
            }
        }
        return nil
    }
}
