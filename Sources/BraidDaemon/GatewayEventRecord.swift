import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One entry of the daemon's event log: a WAN changing state, its gateway or address changing,
/// an apply, a repair by resync, a reload, a drain. Shown by `braid events`, served at
/// `/api/v1/events`, given to event hooks as JSON on stdin.
public struct GatewayEventRecord: Sendable, Codable, Equatable {
    /// What happened; the raw value is the word in the JSON and in `BRAID_EVENT`.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// A WAN's state changed (`from`, `to`: the words of `WanState`).
        case state
        /// A WAN's gateway changed.
        case gateway
        /// A WAN interface's addresses changed.
        case address
        /// A plan was applied to the kernel (with changes).
        case apply
        /// A resync or routing check put back what someone else changed or deleted.
        case repair
        /// The config was re-read (SIGHUP or the API).
        case reload
        case drain
        case undrain
        /// This gateway's HA role changed (`from`, `to`: the words of `HARole`).
        case role
    }

    /// Increases by one per event, across daemon restarts.
    public var id: Int
    public var time: Date
    public var kind: Kind
    public var wan: String?
    public var interface: String?
    public var from: String?
    public var to: String?
    public var reason: String
    /// For a WAN found down by its probes: from the first failed probe to the verdict.
    public var detectionSeconds: Double?
    public var gateway: String?
    /// The WANs taking new connections after the event.
    public var usableWans: [String]

    public init(
        id: Int = 0, time: Date = Date(), kind: Kind, wan: String? = nil, interface: String? = nil, from: String? = nil,
        to: String? = nil, reason: String, detectionSeconds: Double? = nil, gateway: String? = nil, usableWans: [String] = []
    ) {
        self.id = id
        self.time = time
        self.kind = kind
        self.wan = wan
        self.interface = interface
        self.from = from
        self.to = to
        self.reason = reason
        self.detectionSeconds = detectionSeconds
        self.gateway = gateway
        self.usableWans = usableWans
    }

    enum CodingKeys: String, CodingKey {
        case id, time, kind = "event", wan, interface, from, to, reason, gateway
        case detectionSeconds = "detection_seconds"
        case usableWans = "usable_wans"
    }

    /// The JSON of the log, the API and hooks: ISO 8601 times, sorted keys, one line.
    public static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Self.timeText(date))
        }
        return encoder
    }()

    public static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = Self.parseTime(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a time: \(text)"))
            }
            return date
        }
        return decoder
    }()

    /// Milliseconds matter here (a failover takes well under a second): `2026-12-02T10:11:03.123Z`.
    public static func timeText(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(milliseconds % 1000))
    }

    static func parseTime(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    public var jsonLine: String { (try? Self.encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}" }
}
