import BraidConfig
import BraidPlanner
import CBraidLinux
import Foundation

/// The real kernel port: rtnetlink dumps to read links, addresses, rules and routes
/// (LinuxKernel+Rtnetlink.swift) and rtnetlink requests to change Braid's
/// (LinuxKernel+RoutingChanges.swift), nft for the table (one transaction per
/// change, through the braid-nft-session helper or the nft program; read back as JSON), /proc/sys
/// and `conntrack`. Separate processes keep Braid free of libnftables' GPL-2 licence and of its
/// crashes.
public struct LinuxKernel: KernelPort {
    let runner: any CommandRunner

    public init(runner: any CommandRunner = ProcessCommandRunner()) {
        self.runner = runner
    }

    var tableReference: [String] { [RoutingLayout.tableFamily, RoutingLayout.tableName] }
    var protocolTag: String { "\(RoutingLayout.protocolTag)" }

    /// iproute2's names for the route protocols a gateway is learned from (rtnetlink.h RTPROT_*).
    static func routeProtocolName(_ number: UInt32) -> String {
        switch number {
        case 2: "kernel"
        case 3: "boot"
        case 4: "static"
        case 9: "ra"
        case 16: "dhcp"
        default: "\(number)"
        }
    }

    public func readState(layout: KernelLayoutConfig) throws(KernelError) -> ObservedKernelState {
        ObservedKernelState(policyRules: try readPolicyRules(), routes: try readRoutes(), table: try readTable())
    }

    public func readRouting() throws(KernelError) -> ObservedKernelState {
        ObservedKernelState(policyRules: try readPolicyRules(), routes: try readRoutes())
    }

    public func readObjectNames() throws(KernelError) -> TableObjectNames {
        func names(_ arguments: [String], _ kind: String) throws(KernelError) -> [String] {
            try listObjects(arguments, kind: kind).compactMap { $0["name"] as? String }
        }
        // -t: no elements (a 100,000-prefix set lists in milliseconds). Counters have no such
        // shortcut in nft (`list counters` reads every element first): they come from the netlink
        // dump `readCounters` makes.
        return TableObjectNames(
            counters: try readCounters().keys.sorted(),
            maps: try names(["-t", "list", "maps", RoutingLayout.tableFamily], "map"),
            sets: try names(["-t", "list", "sets", RoutingLayout.tableFamily], "set"))
    }

    /// Objects of one kind in Braid's table, from `nft -j ARGUMENTS`.
    private func listObjects(_ arguments: [String], kind: String) throws(KernelError) -> [[String: Any]] {
        let command = ["nft", "-j"] + arguments
        let result = try runner.run(command)
        if result.status != 0 {
            // Listing the counters of a table that is not there.
            if result.standardError.contains("No such file or directory") { return [] }
            throw .commandFailed(arguments: command, status: result.status, standardError: result.standardError)
        }
        guard let document = try parseJSON(result.standardOutput, command: command.joined(separator: " ")) as? [String: Any],
            let objects = document["nftables"] as? [[String: Any]]
        else {
            throw .unexpectedOutput(command: command.joined(separator: " "), detail: "no nftables array")
        }
        return objects.compactMap { $0[kind] as? [String: Any] }.filter { $0["table"] as? String == RoutingLayout.tableName }
    }

    /// Read from /proc/sys in the runner's namespace (a file under /proc/sys/net answers for the
    /// namespace of the thread that opens it), not with one `sysctl -n` process per key: an apply
    /// reads each key twice, and each process cost about 4 ms of a change.
    public func readSysctls(_ keys: [String]) throws(KernelError) -> [String: String] {
        for key in keys where key.isEmpty || key.hasPrefix("/") || key.split(separator: "/").contains("..") {
            throw .sysctlUnreadable(key: key, reason: "not a sysctl key")
        }
        let results = try runner.withinNetworkNamespace { () -> [(key: String, text: String?, error: Int32)] in
            keys.map { key in
                let descriptor = open("/proc/sys/" + key, O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { return (key, nil, errno) }
                defer { close(descriptor) }
                // /proc/sys files say they are empty: read until the end.
                var bytes: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 1024)
                while bytes.count < 65_536 {
                    let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                    if count < 0 && errno == EINTR { continue }
                    guard count >= 0 else { return (key, nil, errno) }
                    if count == 0 { break }
                    bytes += chunk.prefix(count)
                }
                return (key, String(decoding: bytes, as: UTF8.self), 0)
            }
        }
        var values: [String: String] = [:]
        for result in results {
            guard let text = result.text else {
                throw .sysctlUnreadable(key: result.key, reason: String(cString: strerror(result.error)))
            }
            values[result.key] = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return values
    }

    public func perform(_ step: KernelStep) throws(KernelError) {
        switch step {
        case .addRoute(let route):
            try changeRoute(BRAID_ADD, route)
        case .deleteRoute(let route):
            try changeRoute(BRAID_DELETE, route)
        case .replaceRoute(_, let new):
            try changeRoute(BRAID_REPLACE, new)
        case .addRule(let rule):
            try changeRule(BRAID_ADD, rule)
        case .deleteRule(let rule):
            try changeRule(BRAID_DELETE, rule)
        case .loadRuleset(let transaction, _), .restoreRuleset(let transaction):
            try runner.checkNftScript(NftTransactionRenderer.render(transaction))
        case .deleteTable:
            try runner.checkNftScript(NftTransactionRenderer.render(.deletingTable()))
        case .setSysctl(let key, let value, _):
            try runner.check(["sysctl", "-q", "-w", "\(key)=\(value)"])
        }
    }

    public func countConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int {
        let arguments = ["conntrack", "-L", "-m", "\(mark)/\(mask)"]
        let result = try runner.run(arguments)
        guard result.status == 0 else {
            throw .commandFailed(arguments: arguments, status: result.status, standardError: result.standardError)
        }
        if let count = Self.conntrackSummaryCount(result.standardError) { return count }
        return result.standardOutput.split(separator: "\n").count
    }

    public func flushConnections(mark: UInt32, mask: UInt32) throws(KernelError) -> Int {
        try deleteConnections(["conntrack", "-D", "-m", "\(mark)/\(mask)"])
    }

    public func flushConnections(mark: UInt32, mask: UInt32, family: AddressFamily) throws(KernelError) -> Int {
        try deleteConnections(["conntrack", "-D", "-f", family == .ipv4 ? "ipv4" : "ipv6", "-m", "\(mark)/\(mask)"])
    }

    private func deleteConnections(_ arguments: [String]) throws(KernelError) -> Int {
        let result = try runner.run(arguments)
        // conntrack exits 1 when nothing matched; the summary on stderr tells the count either way.
        if let count = Self.conntrackSummaryCount(result.standardError) { return count }
        guard result.status == 0 else {
            throw .commandFailed(arguments: arguments, status: result.status, standardError: result.standardError)
        }
        return 0
    }

    /// The count in conntrack's summary on stderr ("… N flow entries have been shown/deleted.").
    static func conntrackSummaryCount(_ standardError: String) -> Int? {
        guard let range = standardError.range(of: #"(\d+) flow entr"#, options: .regularExpression) else { return nil }
        return Int(standardError[range].prefix { $0.isNumber })
    }

    public func readRulesetGeneration() throws(KernelError) -> UInt64 {
        let (generation, error) = try runner.withinNetworkNamespace { () -> (Int64, Int32) in
            let generation = braid_nftables_generation()
            return (Int64(generation), errno)
        }
        guard generation >= 0 else {
            let reason = error == EAGAIN || error == EWOULDBLOCK ? "no answer within 2 s" : String(cString: strerror(error))
            throw .netlink("cannot read the nftables generation over netlink: \(reason)")
        }
        return UInt64(generation)
    }

    public func readTableListing() throws(KernelError) -> String? {
        // -s: no counter values, which change with every packet.
        let arguments = ["nft", "-s", "list", "table"] + tableReference
        let result = try runner.run(arguments)
        if result.status != 0 {
            if result.standardError.contains("No such file or directory") { return nil }
            throw .commandFailed(arguments: arguments, status: result.status, standardError: result.standardError)
        }
        return result.standardOutput
    }

    private func parseJSON(_ text: String, command: String) throws(KernelError) -> Any {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return [Any]() }
        do {
            return try JSONSerialization.jsonObject(with: Data(trimmed.utf8))
        } catch {
            throw .unexpectedOutput(command: command, detail: "\(error)")
        }
    }
}
