import BraidApply
import BraidConfig
import BraidDaemon
import BraidHealth
import BraidKernel
import BraidKernelFake
import BraidPlanner
import Foundation
import Logging
import Synchronization

/// Probers that open no socket: each keeps the controller's `report` closure, and the test calls
/// it with the rounds its scenario needs.
final class ScriptedProbers: Sendable {
    final class Prober: WanProbing, Sendable {
        let request: ProbeRequest
        let report: @Sendable (ProbeRound) -> Void
        private let running = Mutex<Bool?>(nil)

        init(request: ProbeRequest, report: @escaping @Sendable (ProbeRound) -> Void) {
            self.request = request
            self.report = report
        }

        func start() { running.withLock { $0 = true } }
        func stop() { running.withLock { $0 = false } }
        /// nil before `start`, then true until `stop`.
        var isRunning: Bool? { running.withLock { $0 } }
    }

    private let made = Mutex<[Prober]>([])

    var factory: ProberFactory {
        ProberFactory { request, report in
            let prober = Prober(request: request, report: report)
            self.made.withLock { $0.append(prober) }
            return prober
        }
    }

    /// Every prober made, oldest first.
    var all: [Prober] { made.withLock { $0 } }

    /// The newest prober of a WAN.
    func latest(_ wanName: String) -> Prober? { all.last { $0.request.wan.name == wanName } }
}

/// Log lines the controller wrote, for the failure messages (the assertions look at the status
/// and the kernel, not at wording).
final class RecordedLog: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var text: String { lines.withLock { $0.joined(separator: "\n") } }

    struct Handler: LogHandler {
        let log: RecordedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) { log.append("\(event.level): \(event.message)") }
    }
}

/// The daemon's event stream, without the task.
final class EventQueue: Sendable {
    private let events = Mutex<[DaemonEvent]>([])
    func append(_ event: DaemonEvent) { events.withLock { $0.append(event) } }
    func next() -> DaemonEvent? { events.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
}

/// One control loop on the fake kernel with a manual clock: events the controller emits (probe
/// rounds, a damping hold's end) are queued and delivered in order, as the daemon's event stream does.
final class DaemonHarness {
    let kernel: FakeKernel
    let clock: ManualDaemonClock
    let probers = ScriptedProbers()
    let log = RecordedLog()
    let stateDirectory: String
    let status = StatusBoard(
        DaemonStatus(pid: 1, configPath: "braid.yaml", startedAt: Date(timeIntervalSince1970: 1_800_000_000), wans: []))
    private let queue = EventQueue()
    private(set) var controller: GatewayController
    /// Events, drains and commands, when the test asked for them (`withHub`).
    let hub: DaemonHub?
    private var sequence = 0

    static func wanInterface(_ number: Int, isUp: Bool = true) -> InterfaceFacts {
        InterfaceFacts(
            name: "wan\(number)", isUp: isUp,
            addresses: [InterfaceAddress(address: IPv4Address("192.168.\(number).2")!, prefixLength: 24)])
    }

    static func makeKernel(wans: Int = 3) -> FakeKernel {
        FakeKernel(interfaces: [InterfaceFacts(name: "lan0")] + (1...wans).map { wanInterface($0) })
    }

    /// A config with `wans` WANs isp1…ispN on wan1…wanN; `wanKeys` adds keys to every WAN
    /// (`"health": "{ … }"`), `perWan` to one, and `top` adds top-level lines.
    static func yaml(
        wans: Int = 2, weights: [Int]? = nil, wanKeys: [String: String] = [:],
        perWan: [String: [String: String]] = [:], top: [String] = []
    ) -> String {
        var lines = ["lan:", "  interfaces: [lan0]"] + top + ["wans:"]
        for number in 1...wans {
            let name = "isp\(number)"
            lines += [
                "  - name: \(name)", "    interface: wan\(number)", "    gateway: 192.168.\(number).1",
                "    weight: \(weights?[number - 1] ?? 1)",
            ]
            for (key, value) in wanKeys.merging(perWan[name] ?? [:], uniquingKeysWith: { _, one in one }).sorted(by: {
                $0.key < $1.key
            }) {
                lines.append("    \(key): \(value)")
            }
        }
        return lines.joined(separator: "\n")
    }

    static let health = "{ targets: [203.0.113.1], interval: 100ms, timeout: 200ms, down_after: 3, up_after: 2 }"

    init(
        _ yaml: String, kernel: FakeKernel = DaemonHarness.makeKernel(), clock: ManualDaemonClock = ManualDaemonClock(),
        stateDirectory: String = NSTemporaryDirectory() + "braid-daemon-test-\(UUID().uuidString)",
        withHub: Bool = false, telemetry: any DaemonTelemetry = NoTelemetry()
    ) throws {
        self.kernel = kernel
        self.clock = clock
        self.stateDirectory = stateDirectory
        let config = try ConfigLoader.parse(yaml)
        let logger = Logger(label: "test") { [log] _ in RecordedLog.Handler(log: log) }
        hub =
            withHub
            ? DaemonHub(
                config: config, configPath: "braid.yaml", store: AppliedStateStore(directory: stateDirectory), kernel: kernel,
                telemetry: telemetry, logger: logger)
            : nil
        controller = GatewayController(
            config: config, configPath: "braid.yaml",
            applier: GatewayApplier(kernel: kernel, store: AppliedStateStore(directory: stateDirectory)),
            logger: logger,
            status: status, clock: clock, probers: probers.factory, hub: hub,
            emit: { [queue] event in
                queue.append(event)
            })
    }

    /// The same kernel, state directory and clock under a new controller: a daemon restart.
    func restarted(_ yaml: String) throws -> DaemonHarness {
        controller.stop()
        hub?.events.flush()
        return try DaemonHarness(yaml, kernel: kernel, clock: clock, stateDirectory: stateDirectory, withHub: hub != nil)
    }

    func start() throws {
        try controller.start()
        drain()
    }

    /// Runs a command as the API would, answered by the control loop at once.
    func command(_ command: DaemonCommand) -> DaemonCommandOutcome? {
        let answer = Mutex<DaemonCommandOutcome?>(nil)
        send(.command(command, reply: { outcome in answer.withLock { $0 = outcome } }))
        return answer.withLock { $0 }
    }

    func send(_ event: DaemonEvent) {
        controller.handle(event)
        drain()
    }

    /// Delivers the events the controller (or the clock) emitted, in order.
    func drain() {
        while let event = queue.next() { controller.handle(event) }
    }

    /// `count` rounds for one WAN, one probe interval apart, every target answering or none.
    func rounds(_ wanName: String, passing: Bool, count: Int = 1) {
        for _ in 0..<count {
            guard let prober = probers.latest(wanName) else { fatalError("\(wanName) has no prober") }
            clock.advance(by: prober.request.check.interval)
            drain()
            sequence += 1
            let outcomes = prober.request.check.targets.map { _ in
                passing ? ProbeOutcome.answered(rtt: .milliseconds(5)) : .failed(reason: "timed out")
            }
            prober.report(
                ProbeRound(sequence: sequence, startedAt: clock.now - prober.request.check.interval, outcomes: outcomes))
            drain()
        }
    }

    func advance(by duration: Duration) {
        clock.advance(by: duration)
        drain()
    }

    /// Changes the fake's interface and tells the controller, as rtnetlink would.
    func setLink(_ number: Int, up: Bool) {
        kernel.setInterface(Self.wanInterface(number, isUp: up))
        send(.linkChanged)
    }

    func status(_ wanName: String) -> WanHealthStatus? { status.snapshot.wans.first { $0.name == wanName } }
    func state(_ wanName: String) -> WanState? { status(wanName)?.state }

    /// WAN → how many of the `numgen` buckets of `new_connection_split` lead to it, as installed
    /// in the fake's table: the split new connections get.
    var split: [String: Int] {
        guard let table = kernel.snapshot.table, let start = table.range(of: "map new_connection_split {") else { return [:] }
        let body = table[start.upperBound...].prefix { $0 != "}" }
        var buckets: [String: Int] = [:]
        for line in body.split(separator: "\n") {
            let words = line.split(separator: " ").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ",\t")) }
            guard let goto = words.firstIndex(of: "goto"), goto + 1 < words.count, words[goto + 1].hasPrefix("choose_") else {
                continue
            }
            let name = String(words[goto + 1].dropFirst("choose_".count))
            let bounds = words[0].trimmingCharacters(in: .whitespaces).split(separator: "-").compactMap { Int($0) }
            guard let low = bounds.first else { continue }
            buckets[name, default: 0] += (bounds.last ?? low) - low + 1
        }
        return buckets
    }

    /// The mark the controller's probes (and connections) of a WAN carry.
    func mark(_ wanName: String) -> UInt32? { controller.runtime(of: wanName)?.mark }
}
