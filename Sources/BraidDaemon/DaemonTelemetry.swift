/// Where the control loop reports what metrics count: probe answers, state changes, failover
/// detection, applies, repairs and hook runs. Every call must return at once (it is made on the
/// control loop); the API's Prometheus registry is the real one, `NoTelemetry` the default.
public protocol DaemonTelemetry: Sendable {
    /// One probe of `target` through `wan`: its round-trip time, or nil when it got no answer.
    func probed(wan: String, target: String, rtt: Duration?)
    func transitioned(wan: String, to state: WanState)
    /// A WAN was found down by its probes: from the first failed probe to the verdict.
    func failoverDetected(after detection: Duration)
    /// One apply of a plan to the kernel, and whether it succeeded.
    func applied(duration: Duration, succeeded: Bool)
    /// A resync or routing check repaired `count` changes made outside Braid.
    func repaired(count: Int)
    func hookRan(_ result: HookRunResult)
    /// This gateway's HA role is now `role` (a word of `HARole`).
    func haRoleChanged(to role: String)
}

extension DaemonTelemetry {
    public func haRoleChanged(to role: String) {}
}

/// Counts nothing: a daemon without the HTTP API, and tests that do not look at metrics.
public struct NoTelemetry: DaemonTelemetry {
    public init() {}
    public func probed(wan: String, target: String, rtt: Duration?) {}
    public func transitioned(wan: String, to state: WanState) {}
    public func failoverDetected(after detection: Duration) {}
    public func applied(duration: Duration, succeeded: Bool) {}
    public func repaired(count: Int) {}
    public func hookRan(_ result: HookRunResult) {}
}
