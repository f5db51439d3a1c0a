import BraidApply
import BraidConfig
import BraidHealth
import BraidKernel
import Foundation
import Logging
import Synchronization

/// A request from outside the control loop (the HTTP API, `braid drain`), answered by it.
public enum DaemonCommand: Sendable, Equatable {
    case drain(wan: String)
    case undrain(wan: String)
}

/// How the control loop answered a `DaemonCommand`.
public enum DaemonCommandOutcome: Sendable, Equatable {
    /// Done; the text says what changed ("drained wan1", "wan1 was already drained").
    case done(String)
    /// No WAN of that name in the running config.
    case unknownWan(String)
    /// The daemon is not running its control loop (starting or stopping).
    case unavailable
}

/// What the daemon shares with its HTTP API and event hooks: the status board, the event log,
/// the metrics sink, the running config, and a way to send commands to the control loop.
///
/// The control loop calls the `noted…`/`published` methods, which only record and compare
/// values under a lock, so they return at once; whatever takes time (writing the event file,
/// running hooks, answering HTTP) happens on other threads.
public final class DaemonHub: Sendable {
    public let configPath: String
    public let store: AppliedStateStore
    public let kernel: any KernelPort
    public let status: StatusBoard
    public let events: EventLog
    public let telemetry: any DaemonTelemetry
    public let drainRecord: DrainedWans
    public let hooks: EventHookRunner

    private struct Shared {
        var config: Config
        var marks: [String: UInt32] = [:]
        var states: [String: WanState] = [:]
        var gateways: [String: String] = [:]
        var addresses: [String: [String]] = [:]
        var detections: [String: Duration] = [:]
        var shares: [String: Double] = [:]
        var send: (@Sendable (DaemonEvent) -> Void)?
    }
    private final class SharedState: Sendable {
        let lock: Mutex<Shared>
        init(_ value: Shared) { lock = Mutex(value) }
        func withLock<T>(_ body: (inout Shared) -> T) -> T { lock.withLock { body(&$0) } }
    }
    private let shared: SharedState

    public init(
        config: Config, configPath: String, store: AppliedStateStore, kernel: any KernelPort,
        telemetry: any DaemonTelemetry = NoTelemetry(), logger: Logger, persistEvents: Bool = true
    ) {
        self.configPath = configPath
        self.store = store
        self.kernel = kernel
        self.telemetry = telemetry
        status = StatusBoard(DaemonStatus(pid: getpid(), configPath: configPath, startedAt: Date(), wans: []))
        events = EventLog(path: persistEvents ? store.directory + "/events.jsonl" : nil)
        drainRecord = DrainedWans(stateDirectory: store.directory)
        let shared = SharedState(Shared(config: config))
        self.shared = shared
        hooks = EventHookRunner(
            settings: { shared.withLock { $0.config.hooks } }, logger: logger, finished: { telemetry.hookRan($0) })
        events.addListener { [hooks] event in hooks.handle(event) }
    }

    /// The config the control loop runs now (the last one a reload applied).
    public var config: Config { shared.withLock { $0.config } }
    /// WAN name → the mark its connections carry, from the last successful apply.
    public var marks: [String: UInt32] { shared.withLock { $0.marks } }

    /// WAN name → its share of new connections (0...1) in the split the last apply installed.
    public var shares: [String: Double] { shared.withLock { $0.shares } }

    /// The daemon's event stream: commands go there. nil detaches (the loop has ended).
    func attach(_ send: (@Sendable (DaemonEvent) -> Void)?) { shared.withLock { $0.send = send } }

    /// Sends `command` to the control loop and waits for its answer.
    public func send(_ command: DaemonCommand) async -> DaemonCommandOutcome {
        guard let send = shared.withLock({ $0.send }) else { return .unavailable }
        return await withCheckedContinuation { continuation in
            send(.command(command, reply: { continuation.resume(returning: $0) }))
        }
    }

    /// Re-reads the config file (off the control loop) and, when it is valid, has the control
    /// loop apply it, as SIGHUP does; an invalid file changes nothing and its error is returned.
    public func reload() async -> Result<Void, ConfigError> {
        let result = await GatewayDaemon.loadOffTheControlLoop(configPath)
        if case .failure(let error) = result { return .failure(error) }
        guard let send = shared.withLock({ $0.send }) else { return .success(()) }
        send(.reload(result))
        return .success(())
    }

    // MARK: Called by the control loop

    /// Compares the published status with the last one and records an event for every WAN
    /// whose state, gateway or addresses changed. The first status after start sets the baseline.
    func published(config: Config, statuses: [WanHealthStatus], marks: [String: UInt32], addresses: [String: [String]]) {
        let usable = statuses.filter { $0.state.carriesTraffic }.map(\.name)
        var drafts: [GatewayEventRecord] = []
        var transitions: [(String, WanState)] = []
        shared.withLock { shared in
            let first = shared.states.isEmpty
            shared.config = config
            shared.marks = marks
            for status in statuses {
                guard let wan = config.wans.first(where: { $0.name == status.name }) else { continue }
                // The resolved next hop (a learned one for `gateway: auto`), not the setting.
                let gateway = status.gateway ?? "none"
                let before = shared.states[status.name]
                if !first, let before, before != status.state {
                    let detection = status.state == .down ? shared.detections.removeValue(forKey: status.name) : nil
                    drafts.append(
                        GatewayEventRecord(
                            kind: .state, wan: status.name, interface: wan.interface, from: before.rawValue,
                            to: status.state.rawValue, reason: status.reason,
                            detectionSeconds: detection.map {
                                Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18
                            },
                            gateway: gateway, usableWans: usable))
                    transitions.append((status.name, status.state))
                }
                if !first, let old = shared.gateways[status.name], old != gateway {
                    drafts.append(
                        GatewayEventRecord(
                            kind: .gateway, wan: status.name, interface: wan.interface, from: old, to: gateway,
                            reason: "gateway changed", gateway: gateway, usableWans: usable))
                }
                let now = addresses[status.name] ?? []
                if !first, let old = shared.addresses[status.name], old != now {
                    drafts.append(
                        GatewayEventRecord(
                            kind: .address, wan: status.name, interface: wan.interface, from: old.joined(separator: " "),
                            to: now.joined(separator: " "), reason: "\(wan.interface)'s addresses changed", gateway: gateway,
                            usableWans: usable))
                }
                shared.states[status.name] = status.state
                shared.gateways[status.name] = gateway
                shared.addresses[status.name] = now
            }
            let names = Set(statuses.map(\.name))
            for name in shared.states.keys where !names.contains(name) {
                shared.states[name] = nil
                shared.gateways[name] = nil
                shared.addresses[name] = nil
            }
        }
        for (wan, state) in transitions { telemetry.transitioned(wan: wan, to: state) }
        for draft in drafts { events.record(draft) }
    }

    /// A WAN was found down by its probes after `detection`; the state event that follows carries it.
    func notedDetection(wan: String, _ detection: Duration) {
        shared.withLock { $0.detections[wan] = detection }
        telemetry.failoverDetected(after: detection)
    }

    func notedProbes(wan: String, targets: [String], round: ProbeRound) {
        for (target, outcome) in zip(targets, round.outcomes) {
            switch outcome {
            case .answered(let rtt): telemetry.probed(wan: wan, target: target, rtt: rtt)
            case .failed: telemetry.probed(wan: wan, target: target, rtt: nil)
            }
        }
    }

    func notedApply(duration: Duration, changes: Int?, usable: [String], shares: [(String, Double)]?) {
        telemetry.applied(duration: duration, succeeded: changes != nil)
        if let shares { shared.withLock { $0.shares = Dictionary(shares, uniquingKeysWith: { $1 }) } }
        guard let changes, changes > 0 else { return }
        events.record(
            GatewayEventRecord(
                kind: .apply, reason: "\(changes) change(s) applied in \(Int(duration.inMilliseconds)) ms", usableWans: usable))
    }

    func notedRepair(count: Int, what: String, usable: [String]) {
        guard count > 0 else { return }
        telemetry.repaired(count: count)
        events.record(GatewayEventRecord(kind: .repair, reason: what, usableWans: usable))
    }

    func notedReload(_ reason: String, usable: [String]) {
        events.record(GatewayEventRecord(kind: .reload, reason: reason, usableWans: usable))
    }

    func notedDrain(wan: WanConfig, drained: Bool, usable: [String]) {
        events.record(
            GatewayEventRecord(
                kind: drained ? .drain : .undrain, wan: wan.name, interface: wan.interface,
                reason: drained ? "drained by the operator: no new connections" : "undrained by the operator",
                gateway: status.snapshot.wans.first { $0.name == wan.name }?.gateway ?? "none", usableWans: usable))
    }
}
