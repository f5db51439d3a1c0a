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
    /// observation: another program deleting Braid's rules or routes while the apply ran (the
    /// very thing a repair answers) must not read as this WAN's kernel refusing its route. A piece
    /// counts as refused only once it has been missing from `refusalStreak` read-backs in a row;
    /// a stream of other deletions (one `ip rule del` after another, then a route) retries with
    /// each new piece's streak starting at one, up to `verificationAttempts` applies in all.
    func applyIsolatingWans(
        _ config: Config, availability: WanAvailability, missingInterfacesAreDown: Bool,
        warnings: inout [String]
    ) throws(ApplyError) -> Report {
        var availability = availability
        var verifications = VerificationStreaks()
        while true {
            let warningsBefore = warnings
            do {
                return try applyLocked(
                    config, availability: availability, missingInterfacesAreDown: missingInterfacesAreDown,
                    warnings: &warnings)
            } catch {
                var error = error
                if case .verificationFailed(let remaining) = error {
                    switch verifications.judge(missing: remaining) {
                    case .retry:
                        warnings = warningsBefore
                        continue
                    case .refused(let pieces):
                        error = .verificationFailed(pieces)
                    case .givenUp:
                        throw error
                    }
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

    /// How many read-backs in a row must miss a piece before it counts as refused by the kernel.
    static let refusalStreak = 4

    /// The most applies one call makes while read-backs keep missing pieces that other programs
    /// may be deleting; past it the call fails (the next repair or resync tries again).
    static let verificationAttempts = 12

    /// How many read-backs in a row have missed each piece, and what the latest one means.
    struct VerificationStreaks {
        enum Verdict: Equatable {
            /// Something missing may have been deleted by another program since it was installed: apply again.
            case retry
            /// These pieces were missing from `refusalStreak` read-backs in a row: the kernel does not keep them.
            case refused([KernelStep])
            /// Too many attempts while something missing was still new: fail without blaming a
            /// WAN (the next repair or resync looks again).
            case givenUp
        }

        private var streaks: [String: Int] = [:]
        private var attempts = 0

        mutating func judge(missing: [KernelStep]) -> Verdict {
            attempts += 1
            var next: [String: Int] = [:]
            for step in missing { next[step.pieceKey] = (streaks[step.pieceKey] ?? 0) + 1 }
            streaks = next
            if missing.allSatisfy({ (streaks[$0.pieceKey] ?? 0) >= GatewayApplier.refusalStreak }) { return .refused(missing) }
            return attempts < GatewayApplier.verificationAttempts ? .retry : .givenUp
        }
    }

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

    /// What the step installs, whatever the step: a route's place (an add and a replace of the
    /// same route are one piece, whichever the diff chose), a sysctl's key, else the step itself.
    var pieceKey: String {
        switch self {
        case .addRoute(let route), .deleteRoute(let route), .replaceRoute(_, let route):
            "route \(route.family) \(route.table) \(route.destination.map { "\($0)" } ?? "default")"
        case .setSysctl(let key, _, _): "sysctl \(key)"
        default: description
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
