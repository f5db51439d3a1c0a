/// How balanced connections pick a WAN.
public enum StickyMode: String, Sendable, Equatable {
    /// Every new connection is placed by weight on its own.
    case none
    /// A client (source address) keeps one WAN while that WAN is usable, so sites that tie a
    /// session to the client's public address (banks, game servers) see one address.
    case source
}

/// A named set of addresses and prefixes of either family (one set may mix them), written inline
/// or read from a file.
public struct AddressSetConfig: Sendable, Equatable {
    public var name: String
    public var entries: [IPPrefix]
    /// The file the entries were read from, when they were.
    public var file: String?

    public init(name: String, entries: [IPPrefix], file: String? = nil) {
        self.name = name
        self.entries = entries
        self.file = file
    }
}

/// An inclusive port range; a single port has `first == last`.
public struct PortRange: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var first: UInt16
    public var last: UInt16

    public init(_ first: UInt16, _ last: UInt16) {
        self.first = first
        self.last = last
    }

    public var description: String { first == last ? "\(first)" : "\(first)-\(last)" }
    public var count: Int { Int(last) - Int(first) + 1 }
    public func contains(_ port: UInt16) -> Bool { (first...last).contains(port) }
    public static func < (lhs: PortRange, rhs: PortRange) -> Bool { (lhs.first, lhs.last) < (rhs.first, rhs.last) }

    /// Parses `443` or `27015-27030`.
    public static func parse(_ text: String) -> PortRange? {
        let pieces = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(pieces.count) else { return nil }
        let numbers = pieces.map { piece -> UInt16? in
            guard !piece.isEmpty, piece.count <= 5, piece.allSatisfy({ $0.isASCII && $0.isNumber }), piece.first != "0",
                let value = UInt16(piece), value > 0
            else { return nil }
            return value
        }
        guard let first = numbers.first ?? nil, let last = numbers.last ?? nil, first <= last else { return nil }
        return PortRange(first, last)
    }
}

/// The transport protocols a rule or port forward can match.
public enum TransportProtocol: String, Sendable, Equatable, CaseIterable {
    case tcp, udp, icmp
}

/// Where a rule sends the connections it matches, tried in order.
public enum RuleTarget: Sendable, Hashable, CustomStringConvertible {
    /// This WAN, if it is usable.
    case wan(String)
    /// The weighted pool (sticky when `sticky: source`); always usable.
    case balance
    /// No WAN mark: the main routing table decides (VPNs, other routers on the LAN).
    case main
    /// Refuse the connection: for traffic that must never leave by any other WAN.
    case drop
    /// A named policy (`policy: NAME`); always applies (its `last_resort` covers no usable member).
    /// `stickySeconds`: a client keeps the WAN it got for this long since its last new connection.
    case policy(String, stickySeconds: Int? = nil)

    public var description: String {
        switch self {
        case .wan(let name): name
        case .balance: "balance"
        case .main: "main"
        case .drop: "drop"
        case .policy(let name, let sticky): "policy \(name)" + (sticky.map { " (sticky \($0)s)" } ?? "")
        }
    }
}

/// One policy rule: what it matches (every given criterion must hold) and where matching new
/// connections go. Rules are tried in order; the first match wins.
public struct TrafficRuleConfig: Sendable, Equatable {
    public var name: String
    /// Of either family, possibly mixed: the rule then matches each family by its own prefixes.
    public var sources: [IPPrefix]
    public var transport: TransportProtocol?
    public var destinationPorts: [PortRange]
    public var destinations: [IPPrefix]
    public var destinationSet: String?
    /// Ordered preference. When every listed WAN is unusable and the list does not end with
    /// `balance`, `main` or `drop`, the rule is skipped and the next rule is tried.
    public var use: [RuleTarget]

    public init(
        name: String, sources: [IPPrefix] = [], transport: TransportProtocol? = nil, destinationPorts: [PortRange] = [],
        destinations: [IPPrefix] = [], destinationSet: String? = nil, use: [RuleTarget]
    ) {
        self.name = name
        self.sources = sources
        self.transport = transport
        self.destinationPorts = destinationPorts
        self.destinations = destinations
        self.destinationSet = destinationSet
        self.use = use
    }

    /// The families the rule can match: those its sources, destinations and destination set
    /// (`setFamilies`) all have; nil for a rule without any address criteria, which matches
    /// connections of every family. Empty: no connection can match (IPv4 sources, IPv6 destinations).
    public func addressFamilies(setFamilies: Set<AddressFamily>?) -> [AddressFamily]? {
        var families: Set<AddressFamily>? = nil
        func narrow(_ more: Set<AddressFamily>) { families = families.map { $0.intersection(more) } ?? more }
        if !sources.isEmpty { narrow(Set(sources.map(\.family))) }
        if !destinations.isEmpty { narrow(Set(destinations.map(\.family))) }
        if destinationSet != nil { narrow(setFamilies ?? []) }
        return families.map { found in AddressFamily.allCases.filter(found.contains) }
    }

    /// The rule with only the addresses of `family`, as one family's ruleset compiles it.
    public func restricted(to family: AddressFamily) -> TrafficRuleConfig {
        var rule = self
        rule.sources = sources.filter { $0.family == family }
        rule.destinations = destinations.filter { $0.family == family }
        return rule
    }
}

/// One inbound port forward: connections to the WANs' addresses on `ports` are sent to the
/// targets, spread by weight; replies leave by the WAN the connection arrived on.
public struct PortForwardConfig: Sendable, Equatable {
    public var name: String
    /// WAN names; empty means every WAN.
    public var wans: [String]
    public var transport: TransportProtocol
    public var ports: PortRange
    public var targets: [ForwardTarget]
    /// LAN clients (and the router) may use the public address too.
    public var hairpin: Bool

    public init(
        name: String, wans: [String] = [], transport: TransportProtocol, ports: PortRange, targets: [ForwardTarget],
        hairpin: Bool = true
    ) {
        self.name = name
        self.wans = wans
        self.transport = transport
        self.ports = ports
        self.targets = targets
        self.hairpin = hairpin
    }
}

/// A backend of a port forward: `10.0.0.2:80@2` is address 10.0.0.2, port 80, weight 2.
public struct ForwardTarget: Sendable, Equatable, CustomStringConvertible {
    public var address: IPAddress
    /// Nil keeps the port the connection arrived on.
    public var port: UInt16?
    public var weight: Int

    public init(address: IPAddress, port: UInt16?, weight: Int = 1) {
        self.address = address
        self.port = port
        self.weight = weight
    }

    public init(address: IPv4Address, port: UInt16?, weight: Int = 1) {
        self.init(address: .v4(address), port: port, weight: weight)
    }

    /// As written in the config: an IPv6 address with a port in brackets.
    public var description: String {
        let host = address.family == .ipv6 && port != nil ? "[\(address)]" : "\(address)"
        return "\(host)\(port.map { ":\($0)" } ?? "")\(weight == 1 ? "" : "@\(weight)")"
    }

    /// Parses `ADDRESS[:PORT][@WEIGHT]`, with an IPv6 address in brackets when it has a port
    /// (`[fd00:1::2]:80`); see `parseExplained` for why a text is refused.
    public static func parse(_ text: String) -> ForwardTarget? {
        try? parseExplained(text).get()
    }
}
