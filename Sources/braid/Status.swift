import ArgumentParser
import BraidApply
import BraidDaemon
import BraidKernel
import BraidPlanner
import Foundation

/// `braid status`: per WAN, link, mark, table, weight, live connections and traffic counters.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show each WAN's link, mark, table, connections and counters.")

    @Option(
        name: [.short, .customLong("config")],
        help: "Path of the YAML config (default: the running daemon's, else the one `apply` used).")
    var config: String?
    @OptionGroup var state: StateOptions
    @Flag(name: .customLong("json"), help: "Print JSON.")
    var json = false

    func run() throws {
        let config = try runningConfig(explicit: self.config, state: state)
        let health = StatusSocketServer.read(path: GatewayDaemon.statusSocketPath(stateDirectory: state.stateDirectory))
        let report: StatusReport
        do {
            report = try StatusReport.read(
                config: config, kernel: LinuxKernel(), store: AppliedStateStore(directory: state.stateDirectory), daemon: health,
                leaseReports: ClientLeaseReportStore(stateDirectory: state.stateDirectory).load())
        } catch {
            printError(error.description)
            throw ExitStatus.kernelFailure
        }
        let otherFirewalls = report.otherFirewalls
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(StatusTable.render(installed: report.installed, wans: report.wans))
            if !otherFirewalls.isEmpty {
                print("\nOther firewalls on the forward path:")
                for finding in otherFirewalls {
                    print("  \(finding.kind.rawValue): " + finding.summary.replacingOccurrences(of: "\n", with: "\n  "))
                }
            }
            print(health.map(HealthTable.render) ?? "\nNo daemon is running (`braid run` health-checks the WANs).")
            if let ha = health?.ha { print(HAStatusTable.render(ha)) }
        }
    }
}

/// The human-readable status table.
enum StatusTable {
    static func render(_ status: GatewayStatus) -> String { render(installed: status.installed, wans: status.wans) }

    static func render(installed: Bool, wans: [WanStatus]) -> String {
        var rows = [
            [
                "WAN", "INTERFACE", "LINK", "MARK", "TABLE", "WEIGHT", "SHARE", "CONNS", "RX PKTS", "RX BYTES", "TX PKTS",
                "TX BYTES",
            ]
        ]
        for wan in wans {
            rows.append([
                wan.name, wan.interface, wan.linkUp ? "up" : "down", wan.mark, "\(wan.table)", "\(wan.weight)",
                String(format: "%.2f", wan.share),
                "\(wan.connections)", "\(wan.received.packets)", "\(wan.received.bytes)",
                "\(wan.transmitted.packets)", "\(wan.transmitted.bytes)",
            ])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        if !installed { lines.insert("Braid is not installed (run `braid apply`).", at: 0) }
        return lines.joined(separator: "\n")
    }
}

/// The daemon's health view: state, since when and why, and each target's RTT and loss.
enum HealthTable {
    static func render(_ status: DaemonStatus) -> String {
        var lines = ["", "Daemon pid \(status.pid), config \(status.configPath):"]
        let formatter = ISO8601DateFormatter()
        for wan in status.wans {
            lines.append("  \(wan.name): \(wan.state.rawValue) since \(formatter.string(from: wan.since)) (\(wan.reason))")
            if let ipv6State = wan.ipv6State {
                lines.append(
                    "    IPv6: \(ipv6State.rawValue)\(wan.ipv6Reason.map { " (\($0))" } ?? "") (judged by its IPv6 targets)")
            }
            if let probe = wan.probe { lines.append("    probe: \(probe)") }
            for target in wan.targets {
                let rtt = target.lastRTTMilliseconds.map { String(format: "%.1f ms", $0) } ?? "-"
                lines.append("    \(target.address): rtt \(rtt), loss \(Int((target.loss * 100).rounded()))%")
            }
        }
        return lines.joined(separator: "\n")
    }
}
