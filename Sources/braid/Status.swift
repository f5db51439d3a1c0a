import ArgumentParser
import BraidKernel
import Foundation

/// `braid status`: per WAN, link, mark, table, weight, live connections and traffic counters.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show each WAN's link, mark, table, connections and counters.")

    @OptionGroup var options: ConfigOptions
    @Flag(name: .customLong("json"), help: "Print JSON.")
    var json = false

    func run() throws {
        let config = try loadConfig(options)
        let status: GatewayStatus
        do {
            status = try GatewayStatus.read(config: config, kernel: LinuxKernel())
        } catch {
            printError(error.description)
            throw ExitStatus.kernelFailure
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
        } else {
            print(StatusTable.render(status))
        }
    }
}

/// The human-readable status table.
enum StatusTable {
    static func render(_ status: GatewayStatus) -> String {
        var rows = [["WAN", "INTERFACE", "LINK", "MARK", "TABLE", "WEIGHT", "SHARE", "CONNS", "RX PKTS", "RX BYTES", "TX PKTS", "TX BYTES"]]
        for wan in status.wans {
            rows.append([wan.name, wan.interface, wan.linkUp ? "up" : "down", wan.mark, "\(wan.table)", "\(wan.weight)", wan.share,
                         "\(wan.connections)", "\(wan.received.packets)", "\(wan.received.bytes)",
                         "\(wan.transmitted.packets)", "\(wan.transmitted.bytes)"])
        }
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        if !status.installed { lines.insert("Braid is not installed (run `braid apply`).", at: 0) }
        return lines.joined(separator: "\n")
    }
}
