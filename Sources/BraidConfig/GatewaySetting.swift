/// An address type a gateway can be given in: `IPv4Address` for `wans[].gateway`, `IPv6Address` for
/// `wans[].ipv6.gateway`. Lets `GatewaySetting` and the planner's `GatewayResolution` stay family-neutral.
public protocol GatewayAddress: Sendable, Hashable, CustomStringConvertible {
    /// The family every address of this type belongs to.
    static var family: AddressFamily { get }
    /// The address as the family-neutral `IPAddress` (what routes carry).
    var ipAddress: IPAddress { get }
    /// The address out of an `IPAddress`, or nil when it is of the other family.
    init?(_ address: IPAddress)
}

extension IPv4Address: GatewayAddress {
    public static var family: AddressFamily { .ipv4 }
    public var ipAddress: IPAddress { .v4(self) }
    public init?(_ address: IPAddress) {
        guard let value = address.ipv4 else { return nil }
        self = value
    }
}

extension IPv6Address: GatewayAddress {
    public static var family: AddressFamily { .ipv6 }
    public var ipAddress: IPAddress { .v6(self) }
    public init?(_ address: IPAddress) {
        guard let value = address.ipv6 else { return nil }
        self = value
    }
}

/// How a WAN's next hop of one family is known: written in the config, learned at run time, or
/// not needed because the link is point-to-point. The config words are `ADDRESS`, `auto` and
/// `none`; an omitted key means `auto`, because most uplinks (cable, fibre ONTs, LTE modems in
/// router mode) hand out their gateway by DHCP (or, for IPv6, router advertisements).
///
/// `GatewayResolution.resolve` (BraidPlanner) turns a setting plus the host's facts into the next
/// hop a route uses. Generic so IPv4 (`WanConfig.gateway`) and IPv6 (`ipv6.gateway`) share it.
public enum GatewaySetting<Address: GatewayAddress>: Sendable, Hashable, CustomStringConvertible {
    /// A fixed next hop, as the config gives it (`gateway: 203.0.113.1`).
    case fixed(Address)
    /// Learned at run time (`gateway: auto`, or no `gateway` key): from a default route the DHCP
    /// client (or RA) put on the interface in any table, from what a DHCP/PPP client hook
    /// reported, or from a point-to-point interface's peer address.
    case auto
    /// No next hop: the link is point-to-point (PPPoE `ppp0`, raw-IP LTE, WireGuard), and the
    /// WAN's route is a device route, `default dev ppp0` (`gateway: none`).
    case pointToPoint

    /// The config word: the address, `auto` or `none`.
    public var description: String {
        switch self {
        case .fixed(let address): address.description
        case .auto: "auto"
        case .pointToPoint: "none"
        }
    }

    /// The fixed address, or nil for `auto` and `none`.
    public var fixedAddress: Address? {
        if case .fixed(let address) = self { address } else { nil }
    }
}

/// Why a `gateway` value could not be read; `message` is what follows the key path in the error.
public struct GatewaySettingError: Error, Sendable, Equatable {
    public let message: String
}

extension GatewaySetting {
    /// Reads a config value: `auto`, `none`, or an address of this family that can be a next hop.
    /// `otherFamilyKey` is the key an address of the other family belongs under (`ipv6.gateway`
    /// for `gateway`), named in the error so the user knows where to move it.
    public static func parse(_ text: String, otherFamilyKey: String) -> Result<GatewaySetting, GatewaySettingError> {
        switch text {
        case "auto": return .success(.auto)
        case "none": return .success(.pointToPoint)
        default: break
        }
        if let address = IPAddress(text) {
            guard let typed = Address(address) else {
                return .failure(
                    GatewaySettingError(
                        message:
                            "\"\(text)\" is an \(address.family) address; this key takes \(Address.family) (auto, none or an address), put it under \(otherFamilyKey)"
                    ))
            }
            if case .v4(let v4) = address, v4.isUnusableAsHost {
                return .failure(GatewaySettingError(message: "\"\(text)\" is not a usable IPv4 host address"))
            }
            if case .v6(let v6) = address, v6 == .unspecified || v6.groups[0] >> 8 == 0xff {
                return .failure(GatewaySettingError(message: "\"\(text)\" is not a usable IPv6 next hop"))
            }
            return .success(.fixed(typed))
        }
        let looksLikeAddress = text.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" }
        return .failure(
            GatewaySettingError(
                message: looksLikeAddress
                    ? "\"\(text)\" is not a valid \(Address.family) address"
                    : "\"\(text)\" is not auto, none or an \(Address.family) address; use `auto` for a gateway learned from DHCP, `none` for a point-to-point link (PPPoE, WireGuard)"
            ))
    }
}
