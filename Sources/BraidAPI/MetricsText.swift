import BraidConfig
import BraidDaemon
import BraidKernel

/// Renders `/metrics`: the gauges and kernel counters of this moment (state, weight, share,
/// connections, bytes, loss), then the registry's counters and histograms. Prometheus text
/// format 0.0.4: seconds for times, 0–1 for ratios, `_total` on counters, one HELP and TYPE per name.
public enum MetricsText {
    /// Everything a scrape shows, gathered before rendering so that rendering is a pure function.
    public struct Input: Sendable {
        public var config: Config
        public var status: DaemonStatus
        public var marks: [String: UInt32]
        public var shares: [String: Double]
        public var sample: KernelSample

        public init(config: Config, status: DaemonStatus, marks: [String: UInt32], shares: [String: Double], sample: KernelSample)
        {
            self.config = config
            self.status = status
            self.marks = marks
            self.shares = shares
            self.sample = sample
        }
    }

    public static func render(_ input: Input, registry: String) -> String {
        var text = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: [(String, String)], value: String)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { text += "\(name)\(labelText(sample.labels)) \(sample.value)\n" }
        }
        let statuses = input.status.wans
        let wans = input.config.wans.filter { wan in statuses.contains { $0.name == wan.name } }
        func state(_ name: String) -> WanHealthStatus? { statuses.first { $0.name == name } }
        family(
            "braid_wan_up", "gauge", "1 when the WAN takes new connections.",
            wans.map { ([("wan", $0.name)], state($0.name)?.state.carriesTraffic == true ? "1" : "0") })
        family(
            "braid_wan_state", "gauge", "1 for the WAN's current state, 0 for the others.",
            wans.flatMap { wan in
                WanState.allCases.map { ([("wan", wan.name), ("state", $0.rawValue)], state(wan.name)?.state == $0 ? "1" : "0") }
            })
        family(
            "braid_wan_info", "gauge", "The WAN's interface and current gateway, the learned one for `gateway: auto` (always 1).",
            wans.map { ([("wan", $0.name), ("interface", $0.interface), ("gateway", state($0.name)?.gateway ?? "")], "1") })
        family("braid_wan_weight", "gauge", "The WAN's configured weight.", wans.map { ([("wan", $0.name)], "\($0.weight)") })
        family(
            "braid_wan_share_ratio", "gauge", "The WAN's share of new connections in the installed split (0-1).",
            wans.map { ([("wan", $0.name)], number(input.shares[$0.name] ?? 0)) })
        let mask = input.config.kernel.markMask
        family(
            "braid_wan_connections", "gauge", "Conntrack entries carrying the WAN's mark.",
            wans.compactMap { wan in
                input.marks[wan.name].map { ([("wan", wan.name)], "\(input.sample.connectionsByMark[$0 & mask] ?? 0)") }
            })
        let directions = [("rx", "rx_"), ("tx", "tx_")]
        family(
            "braid_wan_bytes_total", "counter", "Bytes through the WAN (rx: received, tx: sent), from Braid's nft counters.",
            wans.flatMap { wan in
                directions.compactMap { direction, prefix in
                    input.sample.counters[prefix + wan.name].map {
                        ([("wan", wan.name), ("direction", direction)], "\($0.bytes)")
                    }
                }
            })
        family(
            "braid_wan_packets_total", "counter", "Packets through the WAN (rx: received, tx: sent), from Braid's nft counters.",
            wans.flatMap { wan in
                directions.compactMap { direction, prefix in
                    input.sample.counters[prefix + wan.name].map {
                        ([("wan", wan.name), ("direction", direction)], "\($0.packets)")
                    }
                }
            })
        family(
            "braid_probe_loss_ratio", "gauge", "Share of the last 20 probes of the target that got no answer (0-1).",
            statuses.flatMap { wan in wan.targets.map { ([("wan", wan.name), ("target", $0.address)], number($0.loss)) } })
        family(
            "braid_scrape_kernel_errors", "gauge", "1 when this scrape could not read the kernel's counters or conntrack table.",
            [([], input.sample.error == nil ? "0" : "1")])
        return text + registry
    }

    /// `{a="x",b="y"}` with `\`, `"` and newlines escaped; empty for no labels.
    static func labelText(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        let pairs = labels.map { name, value in
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
            return "\(name)=\"\(escaped)\""
        }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return "\(Int(value))" }
        return "\(value)"
    }
}
