/// The parts of OpenWrt's `/etc/config/network` the mwan3 import needs: for each logical interface
/// (`wan`, `wanb`, `lan`) its device and how it gets its gateway.
public struct OpenWrtNetwork: Sendable, Equatable {
    public struct Interface: Sendable, Equatable {
        public var name: String
        public var line: Int
        /// `device` (OpenWrt 21.02 and later) or `ifname` (older); `@wan` refers to another
        /// interface's device and is resolved by `device(of:)`.
        public var device: String?
        /// `proto`: static, dhcp, dhcpv6, pppoe, pppoa, 3g, qmi, ncm, wireguard, …
        public var proto: String?
        /// `gateway` for `proto static` (IPv4), `ip6gw` for its IPv6 next hop.
        public var gateway: String?
        public var ipv6Gateway: String?
    }

    public var interfaces: [String: Interface]

    public init(interfaces: [Interface]) {
        self.interfaces = Dictionary(interfaces.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    public static func read(_ document: UCIDocument) -> OpenWrtNetwork {
        OpenWrtNetwork(
            interfaces: document.sections(ofType: "interface").compactMap { section in
                guard let name = section.name else { return nil }
                // ifname may be a list of bridged ports in old files; the first names the device.
                let device = section.value("device") ?? section.value("ifname")?.split(separator: " ").first.map(String.init)
                return Interface(
                    name: name, line: section.line, device: device, proto: section.value("proto"),
                    gateway: section.value("gateway"), ipv6Gateway: section.value("ip6gw"))
            })
    }

    /// The Linux device behind a logical interface, following `@other` aliases (at most a few deep).
    public func device(of name: String) -> String? {
        var current = name
        for _ in 0..<8 {
            guard let device = interfaces[current]?.device else { return nil }
            guard device.hasPrefix("@") else { return device }
            current = String(device.dropFirst())
        }
        return nil
    }

    /// The protocols whose link is point-to-point: the route is `default dev IFACE`, no next hop.
    public static let pointToPointProtocols: Set<String> = [
        "pppoe", "pppoa", "ppp", "3g", "pptp", "l2tp", "wireguard", "openvpn", "qmi", "mbim", "ncm", "wwan", "modemmanager",
    ]
}
