import BraidConfig
import BraidDaemon
import Foundation

/// What the dashboard shows, pushed once a second and at every event: per WAN its state, why and
/// since when, probes with their recent RTTs, share, connections and byte counters; and the
/// latest events.
struct LiveView: Encodable {
    struct Target: Encodable {
        var address: String
        var rttMilliseconds: Double?
        var loss: Double
        /// Recent RTTs in ms, oldest first; null for a probe without an answer.
        var history: [Double?]
    }
    struct Wan: Encodable {
        var name: String
        var state: String
        var reason: String
        var since: String
        var interface: String
        var gateway: String
        var weight: Int
        var share: Double
        var connections: Int?
        var rxBytes: UInt64?
        var txBytes: UInt64?
        var targets: [Target]
    }
    var time: String
    var pid: Int32
    var wans: [Wan]
    var events: [GatewayEventRecord]

    static func make(hub: DaemonHub, telemetry: PrometheusTelemetry?, sample: KernelSample) -> LiveView {
        let status = hub.status.snapshot
        let config = hub.config
        let marks = hub.marks
        let shares = hub.shares
        let mask = config.kernel.markMask
        let wans = status.wans.map { wan -> Wan in
            let configured = config.wans.first { $0.name == wan.name }
            return Wan(
                name: wan.name, state: wan.state.rawValue, reason: wan.reason, since: GatewayEventRecord.timeText(wan.since),
                interface: configured?.interface ?? "", gateway: wan.gateway ?? "",
                weight: configured?.weight ?? 0, share: shares[wan.name] ?? 0,
                connections: marks[wan.name].map { sample.connectionsByMark[$0 & mask] ?? 0 },
                rxBytes: sample.counters["rx_" + wan.name]?.bytes, txBytes: sample.counters["tx_" + wan.name]?.bytes,
                targets: wan.targets.map {
                    Target(
                        address: $0.address, rttMilliseconds: $0.lastRTTMilliseconds, loss: $0.loss,
                        history: telemetry?.rttHistory(wan: wan.name, target: $0.address) ?? [])
                })
        }
        return LiveView(
            time: GatewayEventRecord.timeText(Date()), pid: status.pid, wans: wans, events: Array(hub.events.recent.suffix(50)))
    }

    var json: String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(GatewayEventRecord.timeText(date))
        }
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
