/// How Braid decides whether a WAN is usable: probes to one or more targets, sent through that WAN,
/// every `interval`; `downAfter` failed rounds in a row, or more than `maxLoss` of the last `lossWindow`
/// rounds failed, take it out; `upAfter` good rounds bring it back.
public struct HealthCheckConfig: Sendable, Equatable {
    /// Of either family; each family's verdict comes from its own targets (see `targets(of:)`).
    public var targets: [IPAddress]
    public var method: HealthCheckMethod
    public var interval: Duration
    public var timeout: Duration
    public var downAfter: Int
    public var upAfter: Int
    /// How many targets must answer for a round to pass.
    public var quorum: Int
    /// How many of the most recent rounds the loss rule looks at.
    public var lossWindow: Int
    /// The share of failed rounds in the window, 0 < x < 1, above which the WAN is down even
    /// without `downAfter` failures in a row.
    public var maxLoss: Double

    /// Defaults chosen for sub-second failover on a dead upstream (see docs/config.md): a round every
    /// 150 ms, each probe given 300 ms, three failed rounds → down. Worst case from the cut to the
    /// verdict: one interval of phase + two more intervals + one timeout = 750 ms.
    public static let defaultInterval = Duration.milliseconds(150)
    public static let defaultTimeout = Duration.milliseconds(300)
    public static let defaultDownAfter = 3
    public static let defaultUpAfter = 5
    /// An upstream cut and healed every few hundred milliseconds never fails three rounds in a row,
    /// yet loses half the connections sent to it. 20 rounds (3 s at 150 ms) with 30 % allowed: more
    /// than 6 failed rounds of the last 20 take the WAN down, so 50 % loss is out after its 7th lost
    /// round (about 2 s), while one lost round in ten (a busy resolver) never trips it.
    public static let defaultLossWindow = 20
    public static let defaultMaxLoss = 0.3

    public init(
        targets: [IPAddress], method: HealthCheckMethod = .icmp, interval: Duration = Self.defaultInterval,
        timeout: Duration = Self.defaultTimeout, downAfter: Int = Self.defaultDownAfter,
        upAfter: Int = Self.defaultUpAfter, quorum: Int = 1,
        lossWindow: Int = Self.defaultLossWindow, maxLoss: Double = Self.defaultMaxLoss
    ) {
        self.targets = targets
        self.method = method
        self.interval = interval
        self.timeout = timeout
        self.downAfter = downAfter
        self.upAfter = upAfter
        self.quorum = quorum
        self.lossWindow = lossWindow
        self.maxLoss = maxLoss
    }

    /// The longest a dead upstream can go unnoticed with these settings.
    public var worstCaseDetection: Duration { interval * (downAfter) + timeout }

    /// How many failed rounds the loss window may hold before the WAN is down: the WAN goes down
    /// when more than this many of the last `lossWindow` rounds failed. The small epsilon keeps
    /// 0.3 × 20 at 6, not 5.999….
    public var toleratedFailedRounds: Int { Int((maxLoss * Double(lossWindow) + 1e-9).rounded(.down)) }
}

/// Parses a share written as a percentage (`30%`, `12.5%`) or a fraction (`0.3`).
public enum RatioText {
    public static func parse(_ text: String) -> Double? {
        let isPercent = text.hasSuffix("%")
        let number = isPercent ? text.dropLast() : Substring(text)
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
            let value = Double(number), value.isFinite
        else { return nil }
        return isPercent ? value / 100 : value
    }

    /// `0.3` → `30%`; fractions of a percent keep one decimal (`12.5%`).
    public static func formatPercent(_ ratio: Double) -> String {
        let tenths = (ratio * 1000).rounded()
        return tenths.truncatingRemainder(dividingBy: 10) == 0 ? "\(Int(tenths / 10))%" : "\(tenths / 10)%"
    }
}

/// What a probe does to a target.
public enum HealthCheckMethod: Sendable, Equatable, CustomStringConvertible {
    /// ICMP echo request; up when the matching reply arrives.
    case icmp
    /// TCP connect to the port; up when the handshake completes (or the target refuses: it answered).
    case tcp(port: UInt16)
    /// HTTP GET of `path` with `Host: host`; up on a 2xx or 3xx status.
    case http(host: String, port: UInt16, path: String)
    /// DNS query (type A) for `name` over UDP port 53; up on any answer.
    case dns(name: String)

    public var description: String {
        switch self {
        case .icmp: "icmp"
        case .tcp(let port): "tcp:\(port)"
        case .http(let host, let port, let path): "http://\(host)\(port == 80 ? "" : ":\(port)")\(path)"
        case .dns(let name): "dns:\(name)"
        }
    }

    /// Parses `icmp`, `tcp:PORT`, `http://HOST[:PORT]/PATH` or `dns:NAME`; nil with a reason on error.
    public static func parse(_ text: String) -> Result<HealthCheckMethod, MethodParseError> {
        if text == "icmp" { return .success(.icmp) }
        if text.hasPrefix("tcp:") {
            // PortRange.parse takes digits only: "+80" and "0443" are refused, as for every other port.
            guard let range = PortRange.parse(String(text.dropFirst(4))), range.count == 1 else {
                return .failure(.init("tcp needs a port 1-65535, as tcp:443"))
            }
            return .success(.tcp(port: range.first))
        }
        if text.hasPrefix("http://") {
            let rest = text.dropFirst(7)
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            let authority = rest[..<slash]
            let path = slash == rest.endIndex ? "/" : String(rest[slash...])
            let pieces = authority.split(separator: ":", omittingEmptySubsequences: false)
            guard let host = pieces.first, !host.isEmpty, pieces.count <= 2, isHostName(host) else {
                return .failure(.init("http needs a host name, as http://example.com/health"))
            }
            var port: UInt16 = 80
            if pieces.count == 2 {
                guard let range = PortRange.parse(String(pieces[1])), range.count == 1 else {
                    return .failure(.init("the http port must be 1-65535"))
                }
                port = range.first
            }
            guard path.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "\"" }), !ControlCharacters.contains(path) else {
                return .failure(.init("the http path may not contain spaces, quotes, control or non-ASCII characters"))
            }
            return .success(.http(host: String(host), port: port, path: path))
        }
        if text.hasPrefix("dns:") {
            let name = text.dropFirst(4)
            guard isHostName(name),
                name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ (1...63).contains($0.count) }),
                name.count <= 253
            else {
                return .failure(.init("dns needs a domain name, as dns:example.com"))
            }
            return .success(.dns(name: String(name)))
        }
        return .failure(.init("expected icmp, tcp:PORT, http://HOST[:PORT]/PATH or dns:NAME"))
    }

    static func isHostName(_ text: Substring) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
    }
}

/// Why a health-check method string was refused.
public struct MethodParseError: Error, Sendable {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
}

/// Parses durations written as `100ms`, `1s`, `1.5s` or `2m`.
public enum DurationText {
    /// The longest duration Braid reads anywhere (one day). Every timer it takes from the config or
    /// the command line is far shorter (each key has its own, tighter range); the bound keeps a
    /// typo like `99999999999999999999s` from overflowing Duration's 64-bit arithmetic.
    public static let maximum = Duration.seconds(86_400)

    /// Why a duration text was refused.
    public enum ParseError: Error, Sendable, Equatable {
        /// Not a number followed by ms, s or m.
        case notADuration
        /// Well formed, but longer than `DurationText.maximum`.
        case tooLong
    }

    /// Reads `100ms`, `1s`, `1.5s` or `2m`, refusing anything longer than `maximum`.
    public static func read(_ text: String) -> Result<Duration, ParseError> {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let value = Double(number),
                value.isFinite
            else {
                return .failure(.notADuration)
            }
            // "1m" must not be read as "1" + "m" when the user meant ms: "ms" is checked first.
            let milliseconds = (value * scale * 1000).rounded()
            // Compared as a Double before converting: Int64(_:) traps on a value it cannot hold.
            guard milliseconds <= maximum.inMilliseconds else { return .failure(.tooLong) }
            return .success(.milliseconds(Int64(milliseconds)))
        }
        return .failure(.notADuration)
    }

    /// `read`, for callers that only need to know whether the text is a duration within `maximum`.
    public static func parse(_ text: String) -> Duration? {
        try? read(text).get()
    }

    public static func format(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}

extension Duration {
    /// The duration in milliseconds, with fractions: for logs, status and benchmark figures.
    public var inMilliseconds: Double {
        Double(components.seconds) * 1000 + Double(components.attoseconds) / 1e15
    }
}

extension ConfigLoader {
    /// `health.loss_window` and `health.max_loss`, and the check that together they tolerate at
    /// least one failed round (otherwise a single lost round would take the WAN down, which is
    /// what `down_after: 1` says more plainly).
    static func readLossRule(_ keys: [String: YAMLCursor], into check: inout HealthCheckConfig, _ collector: inout IssueCollector)
    {
        let before = collector.issues.count
        if let windowCursor = keys["loss_window"],
            let value = collector.integer(windowCursor, in: 2...1000, of: "a number of rounds")
        {
            check.lossWindow = value
        }
        if let lossCursor = keys["max_loss"], let text = collector.string(lossCursor, of: "a share of rounds, as 30% or 0.3") {
            if let value = RatioText.parse(text) {
                if value > 0, value < 1 {
                    check.maxLoss = value
                } else {
                    collector.report(lossCursor, "\(text) is out of range; it must be above 0% and below 100%")
                }
            } else {
                collector.report(lossCursor, "\"\(text)\" is not a share of rounds; write it as 30% or 0.3")
            }
        }
        guard collector.issues.count == before, check.toleratedFailedRounds < 1,
            let cursor = keys["max_loss"] ?? keys["loss_window"]
        else { return }
        collector.report(
            cursor,
            "\(RatioText.formatPercent(check.maxLoss)) of \(check.lossWindow) rounds is less than one round; "
                + "a single lost round would take the WAN down. Raise max_loss or loss_window, or use down_after: 1")
    }
}

extension IssueCollector {
    /// A duration (`100ms`, `1s`, `1.5s`, `2m`) within `range`.
    mutating func duration(_ cursor: YAMLCursor, in range: ClosedRange<Duration>) -> Duration? {
        guard let text = string(cursor, of: "a duration") else { return nil }
        let read = DurationText.read(text)
        if case .failure(.notADuration) = read {
            report(cursor, "\"\(text)\" is not a duration; write it as 100ms, 1s, 1.5s or 2m")
            return nil
        }
        // Longer than a day (`.tooLong`) is out of range for every key, refused before it could overflow.
        guard case .success(let value) = read, range.contains(value) else {
            report(
                cursor,
                "\(text) is out of range (\(DurationText.format(range.lowerBound))-\(DurationText.format(range.upperBound)))")
            return nil
        }
        return value
    }
}
