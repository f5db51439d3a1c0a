import ArgumentParser
import BraidApply
import BraidConfig
import BraidDaemon
import BraidKernel
import BraidPlanner

/// `braid explain`: which rule a flow matches, which WAN(s) it may take, and why.
struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain which WAN a new connection would take, and why.",
        discussion:
            "Uses the running daemon's health when one runs (see --state-dir); otherwise every WAN whose link is up counts as usable."
    )

    @OptionGroup var options: ConfigOptions
    @OptionGroup var state: StateOptions
    @Option(help: "Source address (a LAN client), IPv4 or IPv6.")
    var from: String
    @Option(help: "Destination address.")
    var to: String
    @Option(name: .customLong("proto"), help: "tcp, udp or icmp.")
    var transport: String?
    @Option(help: "Destination port.")
    var dport: Int?

    func run() throws {
        let config = try loadConfig(options)
        guard let source = IPAddress(from) else { return try invalid("--from: \"\(from)\" is not an IPv4 or IPv6 address") }
        guard let destination = IPAddress(to) else { return try invalid("--to: \"\(to)\" is not an IPv4 or IPv6 address") }
        guard source.family == destination.family else {
            return try invalid("--from and --to: \(source) and \(destination) are of different families; a connection has one")
        }
        var transportValue: TransportProtocol?
        if let transport {
            guard let value = TransportProtocol(rawValue: transport) else {
                return try invalid("--proto: \"\(transport)\" is not tcp, udp or icmp")
            }
            transportValue = value
        }
        var port: UInt16?
        if let dport {
            guard (1...65535).contains(dport), transportValue == .tcp || transportValue == .udp else {
                return try invalid("--dport: needs 1-65535 and --proto tcp or udp")
            }
            port = UInt16(dport)
        }
        // Explaining a config for another machine is useful too: a missing interface is assumed up
        // (as `braid plan` does), a WAN's with its gateway's address standing in for its own.
        var hostFacts = (try? LinuxKernel().readHostFacts()) ?? HostFacts(interfaces: [])
        hostFacts.leaseReports = ClientLeaseReportStore(stateDirectory: state.stateDirectory).load()
        let (facts, missingWans, _) = hostFacts.fillingInMissingInterfaces(of: config, assumedUp: true)
        for name in missingWans { printWarning("interface \(name) does not exist on this host; its WAN is assumed up") }
        // Where each WAN's next hop comes from: the config, a kernel route, a client hook, a peer.
        for wan in config.wans {
            switch GatewayPlanner.resolveGateway(wan, host: facts) {
            case .resolved(let gateway): print("  \(wan.name): gateway \(gateway)")
            case .noGateway(let reason): print("  \(wan.name): waits for a gateway (\(reason))")
            }
        }
        var availability = WanAvailability()
        if let health = StatusSocketServer.read(path: GatewayDaemon.statusSocketPath(stateDirectory: state.stateDirectory)) {
            availability.unavailable = Set(health.wans.filter { !$0.state.carriesTraffic }.map(\.name))
            availability.ipv6Unavailable = Set(
                health.wans.filter { !($0.ipv6State ?? $0.state).carriesTraffic }.map(\.name))
            print("live health from the daemon (pid \(health.pid))")
        }
        let explanation = FlowExplainer.explain(
            Flow(source: source, destination: destination, transport: transportValue, destinationPort: port),
            config: config, host: facts, availability: availability)
        for step in explanation.steps { print("  \(step)") }
        print(explanation.outcome)
    }

    private func invalid(_ message: String) throws {
        printError(message)
        throw ExitStatus.invalidInput
    }
}
