import BraidConfig
import BraidPlanner
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The client-hook reports in the state directory: one small JSON file per interface and family
/// (`leases/wan0.ipv4.json`), replaced atomically by `braid hooks report` (what the installed
/// DHCP/PPP client hooks run) and read by every plan, so `braid apply` uses what was last reported
/// whether or not the daemon runs. A file that cannot be read or decoded is skipped: a broken report
/// must never stop a plan.
public struct ClientLeaseReportStore: Sendable {
    public let directory: String

    public init(stateDirectory: String) { directory = stateDirectory + "/leases" }

    /// The file a report of `interface` and `family` lives in. `interface` must be a valid name
    /// (the hook checks it), so it cannot climb out of the directory.
    public func path(interface: String, family: AddressFamily) -> String {
        "\(directory)/\(interface).\(family == .ipv4 ? "ipv4" : "ipv6").json"
    }

    /// Every report on disk, in file-name order.
    public func load() -> [ClientLeaseReport] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.sorted().filter { $0.hasSuffix(".json") }.compactMap { name in
            guard case .success(let bytes?) = PosixFile.read("\(directory)/\(name)", limit: 4096) else { return nil }
            return try? JSONDecoder().decode(StoredLeaseReport.self, from: Data(bytes)).report
        }
    }

    /// Writes `report` over the interface's last one (mode 0644: it says nothing secret, and
    /// `braid status` run by a user may read it).
    public func save(_ report: ClientLeaseReport) throws(StateFileError) {
        let path = path(interface: report.interface, family: report.family)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(StoredLeaseReport(report)) else {
            throw .cannotWrite(path: path, reason: "cannot encode the report")
        }
        if case .failure(let error) = PosixFile.createDirectory(directory) {
            throw .cannotWrite(path: path, reason: "cannot create \(directory): \(error.reason)")
        }
        // Two clients (or a quick RENEW then EXPIRE) may report at once: each writes its own
        // temporary file, and the last rename wins whole.
        if case .failure(let error) = PosixFile.replace(
            path, with: Array(data), mode: 0o644, temporarySuffix: ".new-\(getpid())")
        {
            throw .cannotWrite(path: path, reason: error.reason)
        }
    }

    /// Removes every report (`braid down`, and tests).
    public func removeAll() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            unlink("\(directory)/\(name)")
        }
    }
}

/// The JSON shape of a report file.
struct StoredLeaseReport: Codable {
    var interface: String
    var family: String
    var client: String
    var reason: String
    var bound: Bool
    var address: String?
    var router: String?
    var reportedAt: Double

    enum CodingKeys: String, CodingKey {
        case interface, family, client, reason, bound, address, router
        case reportedAt = "reported_at"
    }

    init(_ report: ClientLeaseReport) {
        interface = report.interface
        family = report.family == .ipv4 ? "ipv4" : "ipv6"
        client = report.client.rawValue
        reason = report.reason
        bound = report.isBound
        address = report.address?.description
        router = report.router?.description
        reportedAt = report.reportedAt
    }

    /// The report, or nil when a field does not read (a file written by hand or by a future version).
    var report: ClientLeaseReport? {
        guard Identifiers.isValidInterfaceName(interface), let client = ClientLeaseReport.Client(rawValue: client) else {
            return nil
        }
        let family: AddressFamily
        switch self.family {
        case "ipv4": family = .ipv4
        case "ipv6": family = .ipv6
        default: return nil
        }
        let address = self.address.flatMap { IPAddress($0) }
        let router = self.router.flatMap { IPAddress($0) }
        if self.address != nil, address?.family != family { return nil }
        if self.router != nil, router?.family != family { return nil }
        return ClientLeaseReport(
            interface: interface, family: family, client: client, reason: reason, isBound: bound, address: address,
            router: router,
            reportedAt: reportedAt)
    }
}
