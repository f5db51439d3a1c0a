import BraidConfig
import BraidPlanner
import CBraidLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Links, addresses, routes and policy rules read from rtnetlink dumps in this process, in the
/// runner's namespace: no `ip` processes. Each apply and each resync read all four; as `ip -j`
/// listings that was seven processes of about 5 ms each, most of a change's "observe" time (22 ms
/// then, 4.4 ms now, with 10,000 rules). The records keep what `ip` showed: the tests compare both.
extension LinuxKernel {
    public func readHostFacts() throws(KernelError) -> HostFacts {
        let links: [braid_link] = try rtnetlinkRecords(BRAID_LINKS, family: AF_UNSPEC) ?? []
        let addresses: [braid_address] = try rtnetlinkRecords(BRAID_ADDRESSES, family: AF_UNSPEC) ?? []
        var routes: [braid_route] = []
        for family in AddressFamily.allCases { routes += try rtnetlinkRecords(BRAID_ROUTES, family: family.socketFamily) ?? [] }
        return Self.hostFacts(links: links, addresses: addresses, routes: routes)
    }

    /// Braid's rules of both families: `down` and a changed plan must find IPv6 ones too.
    func readPolicyRules() throws(KernelError) -> [PolicyRule] {
        var rules: [braid_rule] = []
        for family in AddressFamily.allCases { rules += try rtnetlinkRecords(BRAID_RULES, family: family.socketFamily) ?? [] }
        return Self.braidsPolicyRules(rules)
    }

    /// Braid's routes of both families, from every table.
    func readRoutes() throws(KernelError) -> [Route] {
        let links: [braid_link] = try rtnetlinkRecords(BRAID_LINKS, family: AF_UNSPEC) ?? []
        var routes: [braid_route] = []
        for family in AddressFamily.allCases { routes += try rtnetlinkRecords(BRAID_ROUTES, family: family.socketFamily) ?? [] }
        return Self.braidsRoutes(routes, names: Self.linkNames(links))
    }

    /// One dump's records, or nil for a family this kernel does not have (IPv6 with
    /// `ipv6.disable=1`, where there is nothing of Braid's to find).
    func rtnetlinkRecords<Record: Sendable>(_ kind: braid_rtnetlink_kind, family: Int32) throws(KernelError) -> [Record]? {
        let (records, error) = try runner.withinNetworkNamespace { () -> ([Record], Int32) in
            var pointer: UnsafeMutableRawPointer?
            var count: Int32 = 0
            guard braid_rtnetlink_read(kind, UInt8(family), &pointer, &count) == 0 else { return ([], errno) }
            defer { free(pointer) }
            guard let pointer, count > 0 else { return ([], 0) }
            return (Array(UnsafeBufferPointer(start: pointer.assumingMemoryBound(to: Record.self), count: Int(count))), 0)
        }
        if error == EAFNOSUPPORT && family == AF_INET6 { return nil }
        guard error == 0 else {
            let what = ["links", "addresses", "routes", "policy rules"][Int(kind.rawValue)]
            // (An interrupted dump is not a failure: the C side takes its last try as it is.)
            let familyName = family == AF_INET6 ? "IPv6 " : family == AF_INET ? "IPv4 " : ""
            throw .netlink("cannot read the \(familyName)\(what) over rtnetlink: \(String(cString: strerror(error)))")
        }
        return records
    }

    static func linkNames(_ links: [braid_link]) -> [Int32: String] {
        links.reduce(into: [:]) { names, link in names[link.index] = Self.string(link.name) }
    }

    /// Every interface with its addresses (in the kernel's order) and the default routes other
    /// software has on it.
    static func hostFacts(links: [braid_link], addresses: [braid_address], routes: [braid_route]) -> HostFacts {
        let names = linkNames(links)
        let defaultRoutes = foreignDefaultRoutes(routes, names: names)
        var ipv4: [Int32: [InterfaceAddress]] = [:], ipv6: [Int32: [IPv6InterfaceAddress]] = [:]
        for record in addresses {
            let length = Int(record.prefix_length)
            switch Int32(record.family) {
            case AF_INET:
                let peer = record.has_peer != 0 ? ipv4Address(record.peer) : nil
                ipv4[record.index, default: []].append(
                    InterfaceAddress(address: ipv4Address(record.local), prefixLength: length, peer: peer))
            case AF_INET6:
                let peer = record.has_peer != 0 ? ipv6Address(record.peer) : nil
                ipv6[record.index, default: []].append(
                    IPv6InterfaceAddress(address: ipv6Address(record.local), prefixLength: length, peer: peer))
            default: continue
            }
        }
        return HostFacts(
            interfaces: links.compactMap { link -> InterfaceFacts? in
                guard let name = names[link.index], !name.isEmpty else { return nil }
                let flags = UInt32(link.flags)
                let addresses = ipv4[link.index] ?? []
                return InterfaceFacts(
                    name: name, isUp: flags & UInt32(IFF_UP) != 0 && flags & lowerUp != 0, addresses: addresses,
                    ipv6Addresses: ipv6[link.index] ?? [], index: Int(link.index),
                    isPointToPoint: flags & UInt32(IFF_POINTOPOINT) != 0 || addresses.contains { $0.peer != nil },
                    defaultRoutes: defaultRoutes[name] ?? [])
            })
    }

    /// IFF_LOWER_UP (linux/if.h; not in Glibc's net/if.h).
    static let lowerUp: UInt32 = 0x10000

    /// Interface name → the default routes of both families other software has on it, in any
    /// table but Braid's. Multipath routes (`nexthop … nexthop …`) and routes with no device
    /// (blackhole, unreachable) are left out: neither names one interface's gateway.
    static func foreignDefaultRoutes(_ routes: [braid_route], names: [Int32: String]) -> [String: [KernelDefaultRoute]] {
        var found: [String: [KernelDefaultRoute]] = [:]
        for route in routes where route.destination_length == 0 && route.unicast != 0 && route.multipath == 0 {
            guard let family = AddressFamily(socketFamily: route.family), let device = names[route.oif],
                UInt32(route.protocol) != RoutingLayout.protocolTag
            else { continue }
            found[device, default: []].append(
                KernelDefaultRoute(
                    family: family, gateway: route.has_gateway != 0 ? address(route.gateway, family) : nil, table: route.table,
                    routeProtocol: routeProtocolName(UInt32(route.protocol)), metric: Int(route.metric)))
        }
        return found
    }

    /// Braid's routes (its protocol tag) in any table but main, where Braid puts none: a route
    /// there with the same protocol number is someone else's, and `down` must not delete it.
    static func braidsRoutes(_ routes: [braid_route], names: [Int32: String]) -> [Route] {
        routes.compactMap { route in
            guard UInt32(route.protocol) == RoutingLayout.protocolTag, route.table != RoutingLayout.mainTable,
                route.multipath == 0,
                let family = AddressFamily(socketFamily: route.family), let device = names[route.oif]
            else { return nil }
            var destination: IPPrefix?
            if route.destination_length > 0 || route.has_destination != 0 {
                guard let prefix = IPPrefix(address: address(route.destination, family), length: Int(route.destination_length))
                else { return nil }
                destination = prefix.length == 0 ? nil : prefix
            }
            // No gateway: a device route (point-to-point WAN, `gateway: none`).
            return Route(
                family: family, table: route.table, destination: destination,
                gateway: route.has_gateway != 0 ? address(route.gateway, family) : nil, device: device)
        }
    }

    /// Braid's policy rules (its protocol tag) that look up a table.
    static func braidsPolicyRules(_ rules: [braid_rule]) -> [PolicyRule] {
        rules.compactMap { rule in
            guard UInt32(rule.protocol) == RoutingLayout.protocolTag, rule.table != 0,
                let family = AddressFamily(socketFamily: rule.family)
            else { return nil }
            // The kernel sends mark and mask together whenever either is set.
            let fwmark: UInt32? = rule.has_fwmark != 0 || rule.has_fwmask != 0 ? rule.fwmark : nil
            let fwmask: UInt32? = rule.has_fwmask != 0 ? rule.fwmask : (fwmark == nil ? nil : UInt32.max)
            return PolicyRule(
                family: family, priority: rule.priority, fwmark: fwmark, fwmask: fwmask, table: rule.table,
                suppressPrefixLength: rule.suppress_prefix_length < 0 ? nil : Int(rule.suppress_prefix_length))
        }
    }

    static func string<T>(_ tuple: T) -> String {
        withUnsafeBytes(of: tuple) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func ipv4Address<T>(_ bytes: T) -> IPv4Address {
        withUnsafeBytes(of: bytes) { IPv4Address($0.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) }
    }

    static func ipv6Address<T>(_ bytes: T) -> IPv6Address {
        withUnsafeBytes(of: bytes) { IPv6Address(bytes: Array($0.prefix(16)))! }
    }

    static func address<T>(_ bytes: T, _ family: AddressFamily) -> IPAddress {
        family == .ipv4 ? .v4(ipv4Address(bytes)) : .v6(ipv6Address(bytes))
    }
}

extension AddressFamily {
    /// AF_INET or AF_INET6.
    var socketFamily: Int32 { self == .ipv4 ? AF_INET : AF_INET6 }

    init?(socketFamily: UInt8) {
        switch Int32(socketFamily) {
        case AF_INET: self = .ipv4
        case AF_INET6: self = .ipv6
        default: return nil
        }
    }
}
