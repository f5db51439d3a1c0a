/// Two Braid gateways as an active/backup pair: keepalived (VRRP) moves the virtual addresses to
/// the active one, conntrackd copies its connections (with their marks and NAT) to the backup.
/// The top-level `ha` section; see docs/config.md and "High availability" in docs/operations.md.
public struct HAConfig: Sendable, Equatable {
    /// This gateway's VRRP priority (1-254); the higher one of the pair becomes active.
    public var priority: Int
    /// The dedicated link between the two gateways, where conntrackd syncs connections.
    public var syncInterface: String
    /// The other gateway's address on `syncInterface`.
    public var peer: IPv4Address
    /// The VRRP id of the first interface with virtual addresses; the next ones count up from it.
    public var virtualRouterId: Int
    /// Interface → the addresses only the active gateway holds, in config order. A WAN's first one
    /// is the source address of its NAT.
    public var virtualAddresses: [VirtualAddresses]
    /// Whether a gateway coming back with the higher priority takes the active role back.
    /// Off by default: taking it back is a second interruption for nothing.
    public var preempt: Bool
    /// How long every WAN-less gateway's WANs must stay usable before it may become active again.
    public var stableAfter: Duration

    /// The virtual addresses of one interface.
    public struct VirtualAddresses: Sendable, Equatable {
        public var interface: String
        public var addresses: [InterfaceAddress]

        public init(interface: String, addresses: [InterfaceAddress]) {
            self.interface = interface
            self.addresses = addresses
        }
    }

    /// VRRP's conventional first id in examples; any 1-255 works as long as the segment has no
    /// other VRRP router using it.
    public static let defaultVirtualRouterId = 51
    /// Long enough that a WAN whose probes pass once between failures does not pull the active
    /// role back and forth between the two gateways.
    public static let defaultStableAfter = Duration.seconds(10)

    public init(
        priority: Int, syncInterface: String, peer: IPv4Address, virtualRouterId: Int = Self.defaultVirtualRouterId,
        virtualAddresses: [VirtualAddresses], preempt: Bool = false, stableAfter: Duration = Self.defaultStableAfter
    ) {
        self.priority = priority
        self.syncInterface = syncInterface
        self.peer = peer
        self.virtualRouterId = virtualRouterId
        self.virtualAddresses = virtualAddresses
        self.preempt = preempt
        self.stableAfter = stableAfter
    }

    /// The address a WAN on `interface` source-NATs to: its first virtual address.
    public func natAddress(interface: String) -> IPv4Address? {
        virtualAddresses.first { $0.interface == interface }?.addresses.first?.address
    }
}

extension ConfigLoader {
    /// Reads `ha:`. `lan` and `wans` are the already-read sections (nil when they were invalid):
    /// virtual addresses must sit on interfaces Braid knows, and every WAN needs a fixed gateway.
    static func readHA(
        _ cursor: YAMLCursor, lan: LanConfig?, wans: [WanConfig]?, wansCursor: YAMLCursor?, _ collector: inout IssueCollector
    ) -> HAConfig? {
        let allowed = [
            "priority", "sync_interface", "peer", "virtual_router_id", "virtual_addresses", "preempt", "stable_after",
        ]
        guard let keys = collector.mapping(cursor, allowed: allowed) else { return nil }
        let before = collector.issues.count
        var priority: Int?
        if let priorityCursor = keys["priority"] {
            priority = collector.integer(priorityCursor, in: 1...254, of: "a VRRP priority")
        } else {
            collector.report(path: cursor.child("priority"), line: cursor.line, "missing; the higher of the two becomes active")
        }
        var syncInterface: String?
        if let syncCursor = keys["sync_interface"] {
            if let name = collector.string(syncCursor, of: "an interface name") {
                if !Identifiers.isValidInterfaceName(name) {
                    collector.report(syncCursor, "\"\(name)\" is not a valid interface name (1-15 of a-z A-Z 0-9 _ - .)")
                } else if lan?.interfaces.contains(name) == true || wans?.contains(where: { $0.interface == name }) == true {
                    collector.report(syncCursor, "\"\(name)\" is a LAN or WAN interface; the sync link needs its own")
                } else {
                    syncInterface = name
                }
            }
        } else {
            collector.report(
                path: cursor.child("sync_interface"), line: cursor.line,
                "missing; name the dedicated link to the other gateway (conntrack sync runs over it)")
        }
        var peer: IPv4Address?
        if let peerCursor = keys["peer"] {
            if let text = collector.string(peerCursor, of: "an IPv4 address") {
                if let address = IPv4Address(text), !address.isUnusableAsHost {
                    peer = address
                } else {
                    collector.report(peerCursor, "\"\(text)\" is not an IPv4 address")
                }
            }
        } else {
            collector.report(
                path: cursor.child("peer"), line: cursor.line, "missing; the other gateway's address on the sync link")
        }
        var virtualRouterId = HAConfig.defaultVirtualRouterId
        if let idCursor = keys["virtual_router_id"], let value = collector.integer(idCursor, in: 1...255, of: "a VRRP id") {
            virtualRouterId = value
        }
        var preempt = false
        if let preemptCursor = keys["preempt"], let value = collector.boolean(preemptCursor) { preempt = value }
        var stableAfter = HAConfig.defaultStableAfter
        if let stableCursor = keys["stable_after"], let value = collector.duration(stableCursor, in: .zero...(.seconds(3600))) {
            stableAfter = value
        }
        var virtual: [HAConfig.VirtualAddresses] = []
        if let addressesCursor = keys["virtual_addresses"] {
            virtual = readVirtualAddresses(addressesCursor, lan: lan, wans: wans, &collector)
            if virtualRouterId + virtual.count - 1 > 255 {
                collector.report(
                    keys["virtual_router_id"] ?? cursor,
                    "ids \(virtualRouterId)-\(virtualRouterId + virtual.count - 1) (one per interface) go past 255")
            }
        } else {
            collector.report(
                path: cursor.child("virtual_addresses"), line: cursor.line,
                "missing; list the addresses the active gateway holds (the LAN's gateway, each WAN's public address)")
        }
        // A DHCP or point-to-point WAN has an address the ISP gives this one box: nothing another
        // gateway could take over. And a WAN without a virtual address would NAT to this box's own
        // address, which the peer does not have after a takeover.
        if let wans, let wansCursor, case .sequence(let items) = wansCursor.node {
            for (index, wan) in wans.enumerated() where index < items.count {
                let path = wansCursor.element(index)
                switch wan.gateway {
                case .fixed: break
                case .auto, .pointToPoint:
                    collector.report(
                        path: path + ".gateway", line: (items[index]["gateway"] ?? items[index]).mark?.line,
                        "ha: needs a fixed gateway on every WAN (a DHCP or point-to-point WAN cannot hold a virtual address)")
                }
                if wan.ipv6 != nil {
                    collector.report(
                        path: path + ".ipv6", line: (items[index]["ipv6"] ?? items[index]).mark?.line,
                        "ha: covers IPv4 only for now; take the ipv6 section out of this WAN (its addresses cannot move to the peer)"
                    )
                }
                if wan.nat == .masquerade, !virtual.contains(where: { $0.interface == wan.interface }),
                    keys["virtual_addresses"] != nil
                {
                    collector.report(
                        path: path, line: items[index].mark?.line,
                        "ha: needs a virtual address on \(wan.interface) (ha.virtual_addresses.\(wan.interface)): its source NAT goes to it"
                    )
                }
            }
        }
        guard collector.issues.count == before, let priority, let syncInterface, let peer else { return nil }
        return HAConfig(
            priority: priority, syncInterface: syncInterface, peer: peer, virtualRouterId: virtualRouterId,
            virtualAddresses: virtual, preempt: preempt, stableAfter: stableAfter)
    }

    private static func readVirtualAddresses(
        _ cursor: YAMLCursor, lan: LanConfig?, wans: [WanConfig]?, _ collector: inout IssueCollector
    ) -> [HAConfig.VirtualAddresses] {
        guard case .mapping(let mapping) = cursor.node else {
            collector.report(cursor, "expected a mapping of interface → list of addresses (as lan0: [10.0.0.1/24])")
            return []
        }
        let known = (lan?.interfaces ?? []) + (wans?.map(\.interface) ?? [])
        var result: [HAConfig.VirtualAddresses] = []
        for (key, value) in mapping {
            guard case .scalar(let scalar) = key else {
                collector.report(path: cursor.path, line: key.mark?.line, "keys must be interface names")
                continue
            }
            let interface = scalar.string
            let entry = YAMLCursor(node: value, path: cursor.child(interface))
            guard known.contains(interface) else {
                collector.report(
                    entry,
                    "\"\(interface)\" is not an interface Braid knows; virtual addresses go on lan.interfaces or a WAN's interface (\(known.joined(separator: ", ")))"
                )
                continue
            }
            guard let items = collector.sequence(entry, of: "addresses with prefix length (10.0.0.1/24)") else { continue }
            if items.isEmpty { collector.report(entry, "needs at least one address") }
            var addresses: [InterfaceAddress] = []
            for item in items {
                guard let text = collector.string(item, of: "an address with prefix length (10.0.0.1/24)") else { continue }
                let pieces = text.split(separator: "/", omittingEmptySubsequences: false)
                guard pieces.count == 2, let address = IPv4Address(pieces[0]), !address.isUnusableAsHost,
                    (1...2).contains(pieces[1].count), pieces[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                    let length = Int(pieces[1]), (8...32).contains(length)
                else {
                    collector.report(item, "\"\(text)\" is not an IPv4 address with a prefix length of 8-32 (10.0.0.1/24)")
                    continue
                }
                if result.contains(where: { $0.addresses.contains { $0.address == address } })
                    || addresses.contains(where: { $0.address == address })
                {
                    collector.report(item, "\(address) is listed twice")
                    continue
                }
                addresses.append(InterfaceAddress(address: address, prefixLength: length))
            }
            result.append(HAConfig.VirtualAddresses(interface: interface, addresses: addresses))
        }
        return result
    }
}
