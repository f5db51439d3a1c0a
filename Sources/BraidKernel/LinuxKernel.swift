import BraidConfig
import BraidPlanner
import CBraidLinux
import Foundation

/// The real kernel port: `ip` for links, rules and routes, `nft` for the table (one transaction per
/// change, read back as JSON), `sysctl` and `conntrack`. Separate processes keep Braid free of
/// libnftables' GPL-2 licence and of its crashes.
public struct LinuxKernel: KernelPort {
    let runner: any CommandRunner

    public init(runner: any CommandRunner = ProcessCommandRunner()) {
        self.runner = runner
    }

    var tableReference: [String] { [RoutingLayout.tableFamily, RoutingLayout.tableName] }
    var protocolTag: String { "\(RoutingLayout.protocolTag)" }

    public func readHostFacts() throws(KernelError) -> HostFacts {
        let output = try runner.check(["ip", "-j", "address", "show"])
        guard let links = try parseJSON(output, command: "ip -j address show") as? [[String: Any]] else {
            throw .unexpectedOutput(command: "ip -j address show", detail: "not a list")
        }
        let defaultRoutes = try readForeignDefaultRoutes()
        return HostFacts(
            interfaces: links.compactMap { link in
                guard let name = link["ifname"] as? String else { return nil }
                let flags = link["flags"] as? [String] ?? []
                var ipv4: [InterfaceAddress] = [], ipv6: [IPv6InterfaceAddress] = []
                for info in link["addr_info"] as? [[String: Any]] ?? [] {
                    guard let local = (info["local"] as? String).flatMap({ IPAddress($0) }),
                        let length = info["prefixlen"] as? Int
                    else { continue }
                    // ip lists a point-to-point peer as "address" (different from "local").
                    let peer = (info["address"] as? String).flatMap { IPAddress($0) }.flatMap { $0 == local ? nil : $0 }
                    switch (info["family"] as? String, local) {
                    case ("inet", .v4(let address)):
                        ipv4.append(InterfaceAddress(address: address, prefixLength: length, peer: peer?.ipv4))
                    case ("inet6", .v6(let address)):
                        ipv6.append(IPv6InterfaceAddress(address: address, prefixLength: length, peer: peer?.ipv6))
                    default: continue
                    }
                }
                return InterfaceFacts(
                    name: name, isUp: flags.contains("UP") && flags.contains("LOWER_UP"), addresses: ipv4, ipv6Addresses: ipv6,
                    index: link["ifindex"] as? Int,
                    isPointToPoint: flags.contains("POINTOPOINT") || ipv4.contains { $0.peer != nil },
                    defaultRoutes: defaultRoutes[name] ?? [])
            })
    }

    /// Interface name → the default routes of both families other software has on it, in any
    /// table but Braid's: one `ip -j route show table all default` per family, not one per
    /// interface. Multipath routes (`nexthop … nexthop …`) and routes with no device (blackhole,
    /// unreachable) are left out: neither names one interface's gateway.
    func readForeignDefaultRoutes() throws(KernelError) -> [String: [KernelDefaultRoute]] {
        var found: [String: [KernelDefaultRoute]] = [:]
        for family in AddressFamily.allCases {
            // -N: table ids and protocol numbers, not names from /etc/iproute2 (main is omitted).
            let command = ["ip", family.ipOption, "-N", "-j", "route", "show", "table", "all", "default"]
            guard let output = try listing(command, family: family),
                let routes = try parseJSON(output, command: command.joined(separator: " ")) as? [[String: Any]]
            else { continue }
            for route in routes {
                guard let device = route["dev"] as? String, route["type"] == nil || route["type"] as? String == "unicast"
                else { continue }
                let protocolNumber = (route["protocol"] as? String).flatMap { UInt32($0) } ?? 2
                guard protocolNumber != RoutingLayout.protocolTag else { continue }
                let gateway = (route["gateway"] as? String).flatMap { IPAddress($0) }
                if route["gateway"] != nil, gateway?.family != family { continue }
                let table = (route["table"] as? String).flatMap { UInt32($0) } ?? RoutingLayout.mainTable
                found[device, default: []].append(
                    KernelDefaultRoute(
                        family: family, gateway: gateway, table: table,
                        routeProtocol: Self.routeProtocolName(protocolNumber), metric: route["metric"] as? Int ?? 0))
            }
        }
        return found
    }

    /// iproute2's names for the route protocols a gateway is learned from (rtnetlink.h RTPROT_*).
    static func routeProtocolName(_ number: UInt32) -> String {
        switch number {
        case 2: "boot"
        case 3: "kernel"
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

    /// Braid's rules of both families: `down` and a changed plan must find IPv6 ones too.
    func readPolicyRules() throws(KernelError) -> [PolicyRule] {
        var found: [PolicyRule] = []
        for family in AddressFamily.allCases {
            // -N: numbers, not names from /etc/iproute2/rt_tables, so a named table id still reads back.
            let command = ["ip", family.ipOption, "-N", "-j", "rule", "show"]
            guard let output = try listing(command, family: family),
                let rules = try parseJSON(output, command: command.joined(separator: " ")) as? [[String: Any]]
            else { continue }
            found += rules.compactMap { rule -> PolicyRule? in
                guard "\(rule["protocol"] ?? "")" == protocolTag, let priority = rule["priority"] as? Int,
                    let table = rule["table"] as? String
                else { return nil }
                let tableNumber: UInt32? = table == "main" ? RoutingLayout.mainTable : UInt32(table)
                guard let tableNumber else { return nil }
                let fwmark = (rule["fwmark"] as? String).flatMap(parseHex)
                // ip omits the mask when it is all ones.
                let fwmask = (rule["fwmask"] as? String).flatMap(parseHex) ?? (fwmark == nil ? nil : UInt32.max)
                return PolicyRule(
                    family: family, priority: UInt32(priority), fwmark: fwmark, fwmask: fwmask, table: tableNumber,
                    suppressPrefixLength: rule["suppress_prefixlen"] as? Int)
            }
        }
        return found
    }

    /// Braid's routes of both families, from every table.
    func readRoutes() throws(KernelError) -> [Route] {
        var found: [Route] = []
        for family in AddressFamily.allCases {
            let command = ["ip", family.ipOption, "-N", "-j", "route", "show", "table", "all", "proto", protocolTag]
            guard let output = try listing(command, family: family),
                let routes = try parseJSON(output, command: command.joined(separator: " ")) as? [[String: Any]]
            else { continue }
            found += routes.compactMap { route -> Route? in
                guard let destination = route["dst"] as? String,
                    let device = route["dev"] as? String,
                    let table = (route["table"] as? String).flatMap({ UInt32($0) })
                else { return nil }
                // No gateway: a device route (point-to-point WAN, `gateway: none`).
                let gateway = (route["gateway"] as? String).flatMap { IPAddress($0) }
                if route["gateway"] != nil, gateway?.family != family { return nil }
                let prefix = destination == "default" ? nil : IPPrefix(destination).flatMap { $0.family == family ? $0 : nil }
                return Route(family: family, table: table, destination: prefix, gateway: gateway, device: device)
            }
        }
        return found
    }

    /// The output of an `ip` listing, or nil for IPv6 on a host that has it disabled
    /// (`ipv6.disable=1`), where there is nothing of Braid's to find.
    private func listing(_ command: [String], family: AddressFamily) throws(KernelError) -> String? {
        let result = try runner.run(command)
        if result.status == 0 { return result.standardOutput }
        if family == .ipv6, result.standardError.contains("Address family not supported") { return nil }
        throw .commandFailed(arguments: command, status: result.status, standardError: result.standardError)
    }

    /// Braid's chains as the kernel has them now — never from Braid's own records, which a killed
    /// `apply` (whose `nft` still committed) or another program makes stale.
    func readTable() throws(KernelError) -> ObservedTable? {
        let chains = try listObjects(["list", "chains", RoutingLayout.tableFamily], kind: "chain")
        if chains.isEmpty {
            guard try tableExists() else { return nil }
        }
        let fingerprint = chains.map { "\($0["name"] ?? "")#\($0["handle"] ?? "")" }.sorted().joined(separator: ",")
        // Only the chains: they are all an unchanged table or an in-place update needs, and cheap
        // however many maps and elements there are. A full reload asks `readObjectNames`.
        return ObservedTable(chains: chains.compactMap { $0["name"] as? String }, fingerprint: fingerprint)
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

    /// An empty table (no chains, sets or maps) still counts as Braid's: it must be deleted on `down`.
    private func tableExists() throws(KernelError) -> Bool {
        try runner.run(["nft", "-t", "list", "table"] + tableReference).status == 0
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
            try runner.check(route.command("add") + ["proto", protocolTag])
        case .deleteRoute(let route):
            try runner.check(route.command("del") + ["proto", protocolTag])
        case .replaceRoute(_, let new):
            try runner.check(new.command("replace") + ["proto", protocolTag])
        case .addRule(let rule):
            try runner.check(rule.command("add") + ["protocol", protocolTag])
        case .deleteRule(let rule):
            try runner.check(rule.command("del") + ["protocol", protocolTag])
        case .loadRuleset(let transaction, _), .restoreRuleset(let transaction):
            try runner.check(["nft", "-f", "-"], input: NftTransactionRenderer.render(transaction))
        case .deleteTable:
            try runner.check(["nft", "-f", "-"], input: NftTransactionRenderer.render(.deletingTable()))
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

    private func parseHex(_ text: String) -> UInt32? {
        text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
    }
}
