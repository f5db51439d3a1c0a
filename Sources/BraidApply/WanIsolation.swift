import BraidConfig
import BraidKernel
import BraidPlanner

extension GatewayApplier {
    /// Installs `config` as `apply` does (under its lock). A step that belongs to one WAN (its
    /// rp_filter sysctl, its gateway route) and that the kernel refuses takes only that WAN out:
    /// the attempt is undone as a whole, the WAN is marked isolated (no route, no sysctl, no share)
    /// and the plan is applied again, so a vanished PPP link or an off-link gateway never blocks
    /// the other WANs' failover. The isolated WANs and why are in `report.desired.unusableReasons`.
    /// Failures no single WAN owns (the nft table, the ip rules) still fail the whole apply,
    /// leaving the kernel as it was.
    ///
    /// A read-back that misses a piece the steps just installed is first taken again from a fresh
    /// observation (up to `verificationRetries` times): another program deleting Braid's rules or
    /// routes while the apply ran (the very thing a repair answers) must not read as this WAN's
    /// kernel refusing its route.
    func applyIsolatingWans(
        _ config: Config, availability: WanAvailability, missingInterfacesAreDown: Bool,
        warnings: inout [String]
    ) throws(ApplyError) -> Report {
        var availability = availability
        var retriedVerifications = 0
        while true {
            let warningsBefore = warnings
            do {
                return try applyLocked(
                    config, availability: availability, missingInterfacesAreDown: missingInterfacesAreDown,
                    warnings: &warnings)
            } catch {
                if case .verificationFailed = error, retriedVerifications < Self.verificationRetries {
                    retriedVerifications += 1
                    warnings = warningsBefore
                    continue
                }
                let culprits = Self.wansToIsolate(after: error, config: config).filter { culprit in
                    culprit.ipv6Only
                        ? availability.ipv6IsolationReason(culprit.name) == nil : availability.isolated[culprit.name] == nil
                }
                // Each retry isolates at least one more WAN or WAN's IPv6, so this ends after at
                // most two per WAN.
                guard !culprits.isEmpty else { throw error }
                for culprit in culprits {
                    if culprit.ipv6Only {
                        availability.ipv6Isolated[culprit.name] = culprit.reason
                    } else {
                        availability.isolated[culprit.name] = culprit.reason
                    }
                }
                warnings = warningsBefore
            }
        }
    }

    /// How often a read-back that misses pieces is retried before they count as refused.
    static let verificationRetries = 3

    /// The WANs whose own pieces caused `error`, with the reason to report and whether the piece
    /// is IPv6's (then only the WAN's IPv6 is taken out: its IPv4 does not depend on it); empty
    /// when the failure is not any single WAN's.
    static func wansToIsolate(after error: ApplyError, config: Config) -> [(name: String, reason: String, ipv6Only: Bool)] {
        switch error {
        case .stepFailed(let step, let kernelError, _):
            guard let wan = step.owningWan(in: config) else { return [] }
            return [(wan.name, "the kernel refused its \(step.ownPieceDescription): \(kernelError)", step.isIPv6Piece)]
        case .verificationFailed(let remaining):
            let owners = remaining.map { $0.owningWan(in: config) }
            guard owners.allSatisfy({ $0 != nil }) else { return [] }
            return zip(remaining, owners).map { step, wan in
                (wan!.name, "after apply the kernel still lacks its \(step.ownPieceDescription)", step.isIPv6Piece)
            }
        case .kernel(.sysctlUnreadable(let key, let reason)):
            // The interface vanished between reading the host and reading its sysctls.
            guard let wan = KernelStep.wan(owningSysctl: key, in: config) else { return [] }
            return [(wan.name, "cannot read \(key): \(reason)", key.hasPrefix("net/ipv6/"))]
        default:
            return []
        }
    }
}

extension KernelStep {
    /// The WAN this step installs a piece of (its rp_filter sysctl or its route), or nil for the
    /// shared pieces (the nft table, the ip rules, ip_forward).
    func owningWan(in config: Config) -> WanConfig? {
        switch self {
        case .setSysctl(let key, _, _):
            return Self.wan(owningSysctl: key, in: config)
        case .addRoute(let route), .deleteRoute(let route), .replaceRoute(_, let route):
            return config.wans.first { $0.interface == route.device }
        default:
            return nil
        }
    }

    static func wan(owningSysctl key: String, in config: Config) -> WanConfig? {
        config.wans.first { key.hasPrefix("net/ipv4/conf/\($0.interface)/") || key.hasPrefix("net/ipv6/conf/\($0.interface)/") }
    }

    /// An IPv6 route or IPv6 sysctl of one WAN: refused, it takes out only that WAN's IPv6.
    var isIPv6Piece: Bool {
        switch self {
        case .addRoute(let route), .deleteRoute(let route), .replaceRoute(_, let route): route.family == .ipv6
        case .setSysctl(let key, _, _): key.hasPrefix("net/ipv6/")
        default: false
        }
    }

    /// "route default via … table …" / "sysctl net/ipv4/conf/wan1/rp_filter = 2"
    var ownPieceDescription: String {
        switch self {
        case .addRoute(let route), .deleteRoute(let route), .replaceRoute(_, let route): "route \(route)"
        case .setSysctl(let key, let value, _): "sysctl \(key) = \(value)"
        default: "\(self)"
        }
    }
}
