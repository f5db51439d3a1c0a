import BraidApply
import BraidConfig
import BraidPlanner
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What `braid hooks report` does with one call from a client hook: check every value, record the
/// lease in the state directory (`ClientLeaseReportStore`), and nudge a running daemon. It never
/// throws and never touches the kernel: a DHCP client must never fail, or wait, because of Braid.
/// Garbage (a missing interface, a router that is not an address) is rejected with nothing written.
public struct LeaseReportRecorder: Sendable {
    /// The values as the hook passed them: the client's raw words, empty when unset.
    public struct Request: Sendable, Equatable {
        public var client: String
        public var interface: String
        public var reason: String
        public var address: String
        /// Space-separated, as dhclient's `$new_routers`; the first is used.
        public var routers: String

        public init(client: String, interface: String, reason: String, address: String, routers: String) {
            self.client = client
            self.interface = interface
            self.reason = reason
            self.address = address
            self.routers = routers
        }
    }

    public enum Outcome: Sendable, Equatable {
        /// Written; `nudged` is the daemon's pid when one was signalled.
        case recorded(ClientLeaseReport, nudged: Int32?)
        /// A reason that says nothing about the lease (PREINIT, CARRIER, an IPv6 event): nothing to do.
        case ignored(String)
        /// Bad values, or the state directory refused the file: nothing was written.
        case rejected(String)
    }

    public let stateDirectory: String

    public init(stateDirectory: String) { self.stateDirectory = stateDirectory }

    public func record(_ request: Request, now: Double = Date().timeIntervalSince1970) -> Outcome {
        guard let client = ClientLeaseReport.Client(rawValue: request.client) else {
            return .rejected("unknown client \"\(ControlCharacters.escaped(request.client))\" (dhclient, dhcpcd or pppd)")
        }
        guard Identifiers.isValidInterfaceName(request.interface) else {
            return .rejected("\"\(ControlCharacters.escaped(request.interface))\" is not an interface name")
        }
        // dhcpcd runs the same hooks for DHCPv6 and router advertisements; IPv6 gateways are learned
        // from the kernel's RA routes, so only IPv4 events are recorded here.
        if client == .dhcpcd, request.reason.hasSuffix("6") || request.reason == "ROUTERADVERT" {
            return .ignored("\(request.reason) is an IPv6 event")
        }
        guard let bound = ClientLeaseReport.isBound(reason: request.reason, client: client) else {
            return .ignored("\(ControlCharacters.escaped(request.reason)) says nothing about the lease")
        }
        var address: IPAddress?
        var router: IPAddress?
        if bound {
            guard let parsed = IPv4Address(request.address) else {
                return .rejected(
                    "\(request.reason) without a usable IPv4 address (\"\(ControlCharacters.escaped(request.address))\")")
            }
            address = .v4(parsed)
            if let first = request.routers.split(separator: " ").first {
                guard let parsedRouter = IPv4Address(first), !parsedRouter.isUnusableAsHost else {
                    return .rejected("router \"\(ControlCharacters.escaped(String(first)))\" is not an IPv4 address")
                }
                router = .v4(parsedRouter)
            }
        }
        let report = ClientLeaseReport(
            interface: request.interface, client: client, reason: request.reason, isBound: bound, address: address,
            router: router,
            reportedAt: now)
        do { try ClientLeaseReportStore(stateDirectory: stateDirectory).save(report) } catch {
            return .rejected("\(error)")
        }
        return .recorded(report, nudged: nudgeDaemon())
    }

    /// Signals the daemon that holds the state directory, if one runs; returns its pid.
    private func nudgeDaemon() -> Int32? {
        let lock = AppliedStateStore(directory: stateDirectory).daemonLock
        guard lock.isHeldElsewhere(), let pid = lock.holder(), pid > 1 else { return nil }
        return kill(pid, SIGUSR1) == 0 ? pid : nil
    }
}
