import BraidDaemon
import Prometheus
import Synchronization

/// The daemon's counters and histograms in a Prometheus registry: what the control loop reports
/// through `DaemonTelemetry` is recorded here (lock-free counters, so the loop never waits), and
/// `/metrics` emits it after the gauges read at scrape time.
public final class PrometheusTelemetry: DaemonTelemetry {
    public let registry = PrometheusCollectorRegistry()
    private let applyDuration: DurationHistogram
    private let applyOK: Counter
    private let applyFailed: Counter
    private let detection: DurationHistogram
    private let repairs: Counter
    private let hookRuns: [HookRunResult: Counter]
    private let history = Mutex<[String: [Double?]]>([:])

    /// Probe RTTs from 1 ms to 2 s: LAN-like, DSL, LTE and satellite latencies land in different buckets.
    static let rttBuckets: [Duration] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000].map { .milliseconds($0) }
    /// Failover detection from 100 ms to a minute (five 1 s rounds land at 5 s).
    static let detectionBuckets: [Duration] = [100, 250, 500, 1000, 2000, 5000, 10000, 30000, 60000].map { .milliseconds($0) }
    /// An apply takes milliseconds when it changes a map element, a few hundred when it loads a big table.
    static let applyBuckets: [Duration] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000].map { .milliseconds($0) }
    /// RTT samples kept per target for the dashboard's sparkline (a minute at 5 Hz, five at 1 Hz).
    public static let historyLength = 300

    public init() {
        applyDuration = registry.makeDurationHistogram(
            descriptor: .init(
                namespace: "braid", metricName: "apply_duration", unitName: "seconds",
                helpText: "Time to apply a plan to the kernel."),
            labels: [], buckets: Self.applyBuckets)
        let applies = MetricNameDescriptor(
            namespace: "braid", metricName: "apply", unitName: "total", helpText: "Plans applied, by result (ok, error).")
        applyOK = registry.makeCounter(descriptor: applies, labels: [("result", "ok")])
        applyFailed = registry.makeCounter(descriptor: applies, labels: [("result", "error")])
        detection = registry.makeDurationHistogram(
            descriptor: .init(
                namespace: "braid", metricName: "failover_detection", unitName: "seconds",
                helpText: "From a WAN's first failed probe to the verdict that it is down."),
            labels: [], buckets: Self.detectionBuckets)
        repairs = registry.makeCounter(
            descriptor: .init(
                namespace: "braid", metricName: "resync_repairs", unitName: "total",
                helpText: "Changes made outside Braid that a resync or routing check repaired."))
        let hooks = MetricNameDescriptor(
            namespace: "braid", metricName: "hook_runs", unitName: "total",
            helpText: "Event hook runs, by result (success, failure, timeout).")
        let registry = self.registry
        hookRuns = Dictionary(
            uniqueKeysWithValues: HookRunResult.allCases.map {
                ($0, registry.makeCounter(descriptor: hooks, labels: [("result", $0.rawValue)]))
            })
    }

    public func probed(wan: String, target: String, rtt: Duration?) {
        if let rtt {
            registry.makeDurationHistogram(
                descriptor: .init(
                    namespace: "braid", subsystem: "probe", metricName: "rtt", unitName: "seconds",
                    helpText: "Round-trip time of answered health probes, per WAN and target."),
                labels: [("wan", wan), ("target", target)], buckets: Self.rttBuckets
            ).record(rtt)
        }
        let key = wan + " " + target
        let milliseconds = rtt.map { Double($0.components.seconds) * 1000 + Double($0.components.attoseconds) / 1e15 }
        history.withLock { history in
            history[key, default: []].append(milliseconds)
            if history[key]!.count > Self.historyLength { history[key]!.removeFirst(history[key]!.count - Self.historyLength) }
        }
    }

    /// The last RTTs of `target` through `wan` in milliseconds, oldest first; nil for an unanswered probe.
    public func rttHistory(wan: String, target: String) -> [Double?] { history.withLock { $0[wan + " " + target] ?? [] } }

    public func transitioned(wan: String, to state: WanState) {
        registry.makeCounter(
            descriptor: .init(
                namespace: "braid", subsystem: "wan", metricName: "transitions", unitName: "total",
                helpText: "WAN state changes, by the state entered."),
            labels: [("wan", wan), ("to", state.rawValue)]
        ).increment()
    }

    public func failoverDetected(after detection: Duration) { self.detection.record(detection) }

    public func applied(duration: Duration, succeeded: Bool) {
        applyDuration.record(duration)
        (succeeded ? applyOK : applyFailed).increment()
    }

    public func repaired(count: Int) { repairs.increment(by: Int64(count)) }

    public func hookRan(_ result: HookRunResult) { hookRuns[result]?.increment() }

    /// `braid_ha_role{role}` (1 for the current role, 0 for the others) and `braid_ha_transitions_total`.
    public func haRoleChanged(to role: String) {
        for candidate in HARoleWords.all {
            registry.makeGauge(
                descriptor: .init(
                    namespace: "braid", subsystem: "ha", metricName: "role",
                    helpText: "1 for this gateway's current HA role (active, backup, fault, starting, stopped), 0 for the others."),
                labels: [("role", candidate)]
            ).set(Double(candidate == role ? 1 : 0))
        }
        registry.makeCounter(
            descriptor: .init(
                namespace: "braid", subsystem: "ha", metricName: "transitions", unitName: "total",
                helpText: "HA role changes of this gateway.")
        ).increment()
    }
}

/// The HA role words, as `HARole` spells them (BraidAPI does not import BraidHA).
enum HARoleWords {
    static let all = ["starting", "active", "backup", "fault", "stopped"]
}
