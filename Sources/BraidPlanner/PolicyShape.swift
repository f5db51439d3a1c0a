import BraidConfig

/// Which dimensions a policy rule matches, for one address family: source addresses, destination
/// addresses, and the transport: its protocol
/// alone, or protocol and destination ports together (`service`, one line of `proto << 16 | port`
/// so that ports of TCP and UDP never overlap). Rules of one shape share one rank map (or a few,
/// see `ShapeLayering`); the number of shapes, not of rules, bounds the lookups per connection.
struct PolicyShape: Hashable, Comparable, Sendable {
    enum Transport: Int, Sendable { case none, `protocol`, service }

    var source: Bool
    var destination: Bool
    var transport: Transport

    /// The dimensions in key order (the rank so far follows them).
    var dimensions: [PolicyDimension] {
        (source ? [.source] : []) + (destination ? [.destination] : [])
            + (transport == .protocol ? [.protocol] : transport == .service ? [.service] : [])
    }

    /// Canonical order, so map names and their order do not depend on the order of rules.
    private var order: Int { (source ? 8 : 0) + (destination ? 4 : 0) + transport.rawValue }
    static func < (lhs: PolicyShape, rhs: PolicyShape) -> Bool { lhs.order < rhs.order }

    /// `rules_src_dst_port`: a readable name; `any` for a rule that matches every connection.
    var nameStem: String {
        let parts = dimensions.map(\.nameStem)
        return "rules_" + (parts.isEmpty ? "any" : parts.joined(separator: "_"))
    }

}

/// One dimension of a rule's box. Every value is a point on a line of `UInt128`: an address (IPv4
/// in the low 32 bits), a protocol number, or `proto << 16 | port`.
enum PolicyDimension: Sendable {
    case source, destination, `protocol`, service

    var nameStem: String {
        switch self {
        case .source: "src"
        case .destination: "dst"
        case .protocol: "proto"
        case .service: "port"
        }
    }

    func key(_ family: AddressFamily) -> String {
        switch self {
        case .source: family.nftAddress(.source)
        case .destination: family.nftAddress(.destination)
        case .protocol: "meta l4proto"
        case .service: "meta l4proto . th dport"
        }
    }

    /// How an element writes `lower…upper` of this dimension.
    func text(_ lower: UInt128, _ upper: UInt128, family: AddressFamily) -> String {
        switch self {
        case .source, .destination:
            if family == .ipv4 { return PolicyCompiler.rangeText(UInt32(lower), UInt32(upper)) }
            return IPv6PolicyRanges.text(IPv6Address(lower), IPv6Address(upper))
        case .protocol:
            return PolicyDimension.protocolName(UInt32(lower))
        case .service:
            let first = UInt32(lower & 0xffff), last = UInt32(upper & 0xffff)
            return PolicyDimension.protocolName(UInt32(lower >> 16)) + " . " + (first == last ? "\(first)" : "\(first)-\(last)")
        }
    }

    /// The name nft lists a protocol by; the planner only emits these four.
    static func protocolName(_ number: UInt32) -> String {
        switch number {
        case 6: "tcp"
        case 17: "udp"
        case 1: "icmp"
        case 58: "ipv6-icmp"
        default: "\(number)"
        }
    }
}

extension IPv6Address {
    init(_ value: UInt128) { self.init(high: UInt64(truncatingIfNeeded: value >> 64), low: UInt64(truncatingIfNeeded: value)) }
    var line: UInt128 { UInt128(high) << 64 | UInt128(low) }
}
