import BraidApply
import BraidConfig
import BraidHealth
import BraidKernel
import BraidPlanner
import Foundation
import Logging
import Synchronization

/// Something the control loop must react to.
public enum DaemonEvent: Sendable {
    /// A finished probe round; `proberEpoch` says which start of the probers (one per config
    /// applied) sent it, so rounds probed under an older config are ignored.
    case round(proberEpoch: Int, wanName: String, ProbeRound)
    /// rtnetlink reported a link or address change.
    case linkChanged
    /// rtnetlink reported a route or ip rule change: if one of Braid's went missing, put it back
    /// now, before probes through that WAN fail and it is wrongly declared down.
    case routingChanged
    /// A DHCP/PPP client hook wrote a lease report (`braid hooks report` signals the daemon):
    /// re-plan if a WAN's gateway changed.
    case leaseReported
    /// A WAN's flap-damping hold may have ended: re-plan if its availability changed.
    case dampingExpired
    /// SIGHUP: the config was re-read (off the control loop, so a slow parse never delays a failover).
    case reload(Result<Config, ConfigError>)
    /// Time to compare the kernel with the plan again, to repair what others changed (an
    /// `nft flush ruleset` from a firewall reload, a deleted rule or route).
    case resync
    /// A request from the HTTP API or `braid drain` (`DaemonHub.send`); `reply` gets the answer.
    case command(DaemonCommand, reply: @Sendable (DaemonCommandOutcome) -> Void)
}

/// The daemon's control loop: events in (probe rounds, link changes, reloads), health state
/// machines updated, and on every change of a WAN's usability a fresh plan applied atomically.
/// Owned by one task; only the status snapshot is shared (with the status socket's thread).
public final class GatewayController {
    public private(set) var config: Config
    let configPath: String
    let applier: GatewayApplier
    let logger: Logger
    let clock: any DaemonClock
    let probers: ProberFactory
    let emit: @Sendable (DaemonEvent) -> Void
    let status: StatusBoard
    /// Events, metrics and commands for the API and event hooks; nil in tests that need none.
    let hub: DaemonHub?

    /// WAN name → what the loop knows about it, for every WAN of the current config.
    var wans: [String: WanRuntime] = [:]
    /// WANs the operator drained (kept in the state directory by `DrainedWans`).
    var drainedWans: Set<String> = []
    private var running: [any WanProbing] = []
    private var proberEpoch = 0
    /// The routing the last successful apply installed, to tell a missing rule or route of Braid's.
    private var installedRouting: (rules: Set<PolicyRule>, routes: Set<Route>)?
    /// State-directory warnings last logged, so a read-only /run is reported once, not on every re-plan.
    private var loggedStateWarnings: [String] = []

    /// `applier` holds the kernel (the real one, or a `FakeKernel` in tests); `clock` and
    /// `probers` default to the real ones.
    public init(
        config: Config, configPath: String, applier: GatewayApplier, logger: Logger,
        status: StatusBoard, clock: any DaemonClock = SystemDaemonClock(), probers: ProberFactory = .system,
        hub: DaemonHub? = nil, emit: @escaping @Sendable (DaemonEvent) -> Void
    ) {
        self.hub = hub
        self.config = config
        self.configPath = configPath
        self.applier = applier
        self.logger = logger
        self.status = status
        self.clock = clock
        self.probers = probers
        self.emit = emit
    }

    /// What the loop knows about one WAN now (nil for a WAN not in the config).
    public func runtime(of wanName: String) -> WanRuntime? { wans[wanName] }

    /// Installs the config, or adopts an existing Braid state (an unchanged re-apply touches
    /// nothing, so no flow drops across a daemon restart), then starts probing.
    public func start() throws(ApplyError) {
        do { try refreshLinks() } catch { throw .kernel(error) }
        drainedWans = hub?.drainRecord.load() ?? []
        // A drained WAN is in the state file's unavailable list too; that alone does not make it down.
        let previouslyDown = Set(applier.store.load()?.unavailableWans ?? []).subtracting(drainedWans)
        rebuildWans(previousConfig: nil, previouslyDown: previouslyDown)
        let report = try applyCurrent(missingInterfacesAreDown: false)
        if report.performed.isEmpty {
            logger.info("adopted the installed Braid state unchanged", metadata: ["wans": "\(config.wans.count)"])
        } else {
            logger.info("installed \(report.performed.count) change(s)", metadata: ["wans": "\(config.wans.count)"])
        }
        startProbers()
        publishStatus()
    }

    public func stop() {
        for prober in running { prober.stop() }
        running = []
    }

    public func handle(_ event: DaemonEvent) {
        switch event {
        case .round(let roundEpoch, let wanName, let round):
            // A round from before the last reload was probed under settings no longer in force.
            guard roundEpoch == proberEpoch else { return }
            probeRound(round, of: wanName)
        case .linkChanged:
            linkEvent()
        case .routingChanged:
            // A missing rule or route of Braid's is put back first, as fast as before (its re-plan
            // reads the host afresh, so it also takes a new gateway); otherwise a default route a
            // DHCP client or pppd put on a WAN interface may have taught an `auto` gateway.
            if !repairRoutingIfMissing(reason: "a route or ip rule changed") { followGateways(reason: "a route changed") }
            // A router advertisement's default route came, changed or expired: follow it.
            if config.wans.contains(where: { $0.ipv6?.gateway == .auto }) { linkEvent() }
        case .leaseReported:
            followGateways(reason: "a client hook reported a lease")
        case .reload(let result):
            reload(result)
        case .resync:
            resync()
        case .command(let command, let reply):
            reply(perform(command))
        case .dampingExpired:
            let now = availability
            if now.unavailable != lastAppliedUnavailable || now.ipv6Unavailable != lastAppliedIPv6Unavailable {
                let released = lastReleased()
                let applied = reapply()
                logger.notice(
                    "flap damping released \(released)", metadata: ["apply_ms": "\(applied.map { "\($0)" } ?? "failed")"])
                publishStatus()
            }
        }
    }

    /// Feeds a finished round to the WAN's tracker; on a verdict, re-plans (or, when Braid's own
    /// routing was what failed the probes, repairs it and keeps the WAN).
    private func probeRound(_ fullRound: ProbeRound, of wanName: String) {
        guard var tracker = wans[wanName]?.tracker else { return }
        let parts = FamilyHealth.split(
            fullRound, targets: config.wans.first { $0.name == wanName }?.health?.targets ?? [],
            apart: wans[wanName]?.ipv6Tracker != nil)
        if let ipv6Round = parts.ipv6 { ipv6ProbeRound(ipv6Round, of: wanName) }
        let round = parts.primary
        // A WAN that waits for its gateway has no route: its probes fail for that reason alone and
        // say nothing about the uplink. Ignoring them lets a DHCP bind put it in service at once.
        if wans[wanName]?.waitingForGateway == true { return }
        if let changed = wans[wanName]?.gatewayChangedAt, round.startedAt < changed { return }
        hub?.notedProbes(wan: wanName, targets: tracker.check.targets.map { "\($0)" }, round: round)
        let transition = tracker.record(round, at: clock.now)
        wans[wanName]?.tracker = tracker
        if transition != nil || round.passes(quorum: tracker.check.quorum) {
            // The first verdict of a new tracker: say so, instead of "starting", from now on.
            if wans[wanName]?.judged == false, transition == nil {
                wans[wanName]?.reason = WanRuntime.Reason(text: "its probes pass", since: clock.wallNow)
            }
            wans[wanName]?.judged = true
        }
        if let transition {
            if transition.state == .down, routingIsIncomplete(reason: "\(wanName)'s probes failed") {
                // The probes failed because Braid's own rule or route was missing, not because the
                // WAN is: judge it afresh before the repair's plan (which must keep it in the
                // split), and count no flap and flush nothing.
                wans[wanName]?.tracker = WanHealthTracker(check: tracker.check, now: clock.now, initialState: .up)
                repairRoutingIfMissing(reason: "\(wanName)'s probes failed")
                logger.notice("\(wanName) stays up: its probes failed while Braid's routing was incomplete; judging it afresh")
            } else {
                recordForDamping(wanName)
                healthChanged(wanName, transition, round: round)
            }
        }
        publishStatus()
    }

    /// Feeds the IPv6 part of a round to a WAN whose IPv6 is judged apart; a verdict re-plans only
    /// the IPv6 split (its IPv4 keeps carrying traffic). Flap damping and the conntrack flush act
    /// on its IPv6 alone: its own damper, and only its IPv6 entries (by mark and family).
    private func ipv6ProbeRound(_ round: ProbeRound, of wanName: String) {
        guard var tracker = wans[wanName]?.ipv6Tracker else { return }
        let transition = tracker.record(round, at: clock.now)
        wans[wanName]?.ipv6Tracker = tracker
        if transition != nil || round.passes(quorum: tracker.check.quorum) { wans[wanName]?.ipv6Judged = true }
        guard let transition else { return }
        let failures = zip(tracker.check.targets, round.outcomes).compactMap { target, outcome -> String? in
            if case .failed(let reason) = outcome { return "\(target): \(reason)" }
            return nil
        }
        let reason =
            transition.state == .down ? "\(transition.cause) (\(failures.joined(separator: "; ")))" : "\(transition.cause)"
        wans[wanName]?.ipv6Reason = WanRuntime.Reason(text: reason, since: clock.wallNow)
        recordIPv6ForDamping(wanName)
        let applied = reapply()
        publishStatus()
        logger.notice(
            "\(wanName) IPv6 is \(transition.state.rawValue): \(reason)",
            metadata: [
                "detection_ms": "\(Int(transition.detectionTime.inMilliseconds))",
                "apply_ms": "\(applied.map { "\($0)" } ?? "failed")",
            ])
        // As for the whole WAN: after a failed re-plan its IPv6 is still in the split.
        if transition.state == .down, applied != nil, config.flushOnDown,
            let mark = wans[wanName]?.mark
        {
            do {
                let deleted = try applier.kernel.flushConnections(mark: mark, mask: config.kernel.markMask, family: .ipv6)
                logger.info(
                    "flushed \(deleted) IPv6 connection(s) of \(wanName) so its clients reconnect through a healthy WAN; its IPv4 ones stay"
                )
            } catch {
                logger.error("cannot flush \(wanName)'s IPv6 connections: \(error)")
            }
        }
    }

    /// The IPv6 twin of `recordForDamping`, for a WAN whose IPv6 is judged apart.
    private func recordIPv6ForDamping(_ wanName: String) {
        guard var wan = wans[wanName], var damper = wan.ipv6Damper, let tracker = wan.ipv6Tracker else { return }
        let holdBefore = damper.suppressedUntil
        if let suppression = damper.record(tracker.state == .up ? .up : .down, at: clock.now) {
            wan.ipv6Reason = WanRuntime.Reason(text: "flapping: \(suppression)", since: clock.wallNow)
            logger.notice("\(wanName) IPv6 is held down: \(suppression)")
        }
        wan.ipv6Damper = damper
        wans[wanName] = wan
        if let until = damper.suppressedUntil, until != holdBefore {
            let emit = self.emit
            clock.schedule(at: until) { emit(.dampingExpired) }
        }
    }

    /// WANs that must not take new connections: probes say down. (Link-down WANs are excluded by
    /// the planner from the host facts.)
    var availability: WanAvailability {
        let now = clock.now
        return WanAvailability(
            unavailable: Set(wans.filter { $0.value.isDown || $0.value.isHeld(at: now) || $0.value.drained }.map(\.key)),
            ipv6Unavailable: Set(
                wans.filter { $0.value.isIPv6Down || $0.value.isIPv6Held(at: now) || $0.value.drained }.map(\.key)))
    }

    /// WANs the last successful apply kept out by health or damping.
    private var lastAppliedUnavailable: Set<String> = []
    /// The same for IPv6 alone.
    private var lastAppliedIPv6Unavailable: Set<String>? = []

    private func lastReleased() -> String {
        let now = clock.now
        let whole = lastAppliedUnavailable.sorted().filter { name in wans[name].map { !$0.isHeld(at: now) } ?? false }
        let ipv6 = (lastAppliedIPv6Unavailable ?? []).subtracting(lastAppliedUnavailable).sorted().filter { name in
            wans[name].map { $0.ipv6Damper != nil && !$0.isIPv6Held(at: now) && !$0.isIPv6Down } ?? false
        }
        return (whole + ipv6.map { "\($0) IPv6" }).joined(separator: ", ")
    }

    /// Applies the plan for the current config and availability, remembering what was applied.
    private func applyCurrent(missingInterfacesAreDown: Bool = true) throws(ApplyError) -> GatewayApplier.Report {
        let current = availability
        let started = clock.now
        let usable = config.wans.map(\.name).filter { !current.unavailable.contains($0) }
        let report: GatewayApplier.Report
        do {
            report = try applier.apply(config, availability: current, missingInterfacesAreDown: missingInterfacesAreDown)
        } catch {
            hub?.notedApply(duration: clock.now - started, changes: nil, usable: usable, shares: nil)
            throw error
        }
        hub?.notedApply(
            duration: clock.now - started, changes: report.performed.count, usable: usable,
            shares: report.desired.wans.map {
                ($0.name, $0.splitModulus == 0 ? 0 : Double($0.splitShare) / Double($0.splitModulus))
            })
        lastAppliedUnavailable = current.unavailable
        lastAppliedIPv6Unavailable = current.ipv6Unavailable
        logger.debug("apply: \(report.performed.count) step(s); \(report.timings)")
        remember(report)
        return report
    }

    /// Feeds the WAN's combined state (link up and, with `health`, probes passing) to its damper;
    /// a WAN that keeps coming back is held down, and a timer re-plans when the hold ends.
    private func recordForDamping(_ wanName: String) {
        guard var wan = wans[wanName] else { return }
        let up = wan.linkUp && (wan.tracker.map { $0.state == .up } ?? true)
        let holdBefore = wan.damper.suppressedUntil
        if let suppression = wan.damper.record(up ? .up : .down, at: clock.now) {
            wan.reason = WanRuntime.Reason(text: "flapping: \(suppression)", since: clock.wallNow)
            logger.notice("\(wanName) is held down: \(suppression)")
        }
        wans[wanName] = wan
        if let until = wan.damper.suppressedUntil, until != holdBefore {
            let emit = self.emit
            clock.schedule(at: until) { emit(.dampingExpired) }
        }
    }

    private func healthChanged(_ wanName: String, _ transition: WanHealthTracker.Transition, round: ProbeRound) {
        guard let index = config.wans.firstIndex(where: { $0.name == wanName }) else { return }
        let targets = wans[wanName]?.tracker?.check.targets ?? config.wans[index].health?.targets ?? []
        let failures = zip(targets, round.outcomes).compactMap { target, outcome -> String? in
            if case .failed(let reason) = outcome { return "\(target): \(reason)" }
            return nil
        }
        let detection = Int(transition.detectionTime.inMilliseconds)
        let reason =
            transition.state == .down
            ? "\(transition.cause) (\(failures.joined(separator: "; ")))"
            : "\(transition.cause)"
        wans[wanName]?.reason = WanRuntime.Reason(text: reason, since: clock.wallNow)
        if transition.state == .down { hub?.notedDetection(wan: wanName, transition.detectionTime) }
        let applied = reapply()
        // Status first: whoever reads the log line and then asks for the status sees the change.
        publishStatus()
        logger.notice(
            "\(wanName) is \(transition.state.rawValue): \(reason)",
            metadata: [
                "detection_ms": "\(detection)", "apply_ms": "\(applied.map { "\($0)" } ?? "failed")",
            ])
        // After a failed re-plan the WAN is still in the split: deleting its connections would
        // only send their clients back to it.
        if transition.state == .down, applied != nil { flush(index) }
    }

    private func linkEvent() {
        let before = wans
        do { try refreshLinks() } catch {
            logger.error("cannot read interfaces after a link event: \(error)")
            return
        }
        var changed: [Int] = []
        for (index, wan) in config.wans.enumerated() where before[wan.name]?.linkUp != wans[wan.name]?.linkUp {
            changed.append(index)
            let up = wans[wan.name]?.linkUp == true
            wans[wan.name]?.reason = WanRuntime.Reason(text: "link \(up ? "up" : "down")", since: clock.wallNow)
        }
        let addressesChanged = config.wans.contains {
            before[$0.name]?.addresses != wans[$0.name]?.addresses || before[$0.name]?.ipv6Link != wans[$0.name]?.ipv6Link
        }
        guard !changed.isEmpty || addressesChanged else { return }
        for index in changed { recordForDamping(config.wans[index].name) }
        let applied = reapply()
        publishStatus()
        for index in changed {
            let wan = config.wans[index]
            let up = wans[wan.name]?.linkUp == true
            logger.notice(
                "\(wan.name) link is \(up ? "up" : "down") (\(wan.interface))",
                metadata: [
                    "apply_ms": "\(applied.map { "\($0)" } ?? "failed")"
                ])
            if !up, applied != nil { flush(index) }
        }
        // A WAN whose address went away (a new DHCP lease, a PPP redial with another address):
        // its connections carry the old source and cannot work any more; only its own are deleted.
        for (index, wan) in config.wans.enumerated() where !changed.contains(index) && applied != nil {
            let old = Set(before[wan.name]?.addresses.map(\.address) ?? [])
            let new = Set(wans[wan.name]?.addresses.map(\.address) ?? [])
            if !old.isEmpty, !old.isSubset(of: new) {
                flushStale(index, because: "its address changed from \(old.map(\.description).sorted().joined(separator: ", "))")
            }
        }
        if changed.isEmpty {
            logger.info(
                "interface addresses changed; re-planned", metadata: ["apply_ms": "\(applied.map { "\($0)" } ?? "failed")"])
        }
        publishStatus()
    }

    private func reload(_ result: Result<Config, ConfigError>) {
        let newConfig: Config
        switch result {
        case .success(let config): newConfig = config
        case .failure(let error):
            logger.error("SIGHUP: the new config is invalid; keeping the running one:\n\(error)")
            return
        }
        let oldConfig = config
        let oldWans = wans
        config = newConfig
        stop()
        rebuildWans(previousConfig: oldConfig)
        do {
            try refreshLinks()
            let report = try applyCurrent()
            for (name, count) in report.flushedConnections.sorted(by: { $0.key < $1.key }) {
                logger.info("flushed \(count) connection(s) of \(name), which left the config")
            }
            for (name, reason) in report.flushFailures.sorted(by: { $0.key < $1.key }) {
                logger.error("cannot flush the connections of \(name), which left the config: \(reason)")
            }
            logger.notice(
                "SIGHUP: config reloaded", metadata: ["changes": "\(report.performed.count)", "wans": "\(config.wans.count)"])
            hub?.notedReload("config reloaded: \(report.performed.count) change(s)", usable: usableWans)
        } catch {
            logger.error("SIGHUP: applying the new config failed; the previous state was restored: \(error)")
            hub?.notedReload("the new config could not be applied; the previous one stays: \(error)", usable: usableWans)
            config = oldConfig
            wans = oldWans
            try? refreshLinks()
        }
        startProbers()
        publishStatus()
    }

    private func resync() {
        let started = clock.now
        do {
            let report = try applyCurrent()
            if report.reloadedToBeSure && report.performed.allSatisfy({ if case .loadRuleset = $0 { true } else { false } }) {
                logger.info(
                    "another program changed nftables before Braid had verified its table; reloaded the table to be sure",
                    metadata: ["apply_ms": "\(Int((clock.now - started).inMilliseconds))"])
            } else if !report.performed.isEmpty {
                hub?.notedRepair(
                    count: report.performed.count,
                    what: "resync repaired: \(report.performed.map(\.description).joined(separator: "; "))", usable: usableWans)
                logger.notice(
                    "repaired \(report.performed.count) change(s) made outside Braid",
                    metadata: [
                        "steps": "\(report.performed.map(\.description).joined(separator: "; "))",
                        "apply_ms": "\(Int((clock.now - started).inMilliseconds))",
                    ])
            }
        } catch {
            logger.error("resync failed, will retry: \(error)")
        }
    }

    /// Runtime state for the current config's WANs. A WAN whose health settings did not change
    /// keeps its tracker, and all keep their dampers while `flap_damping` did not change; a WAN
    /// new to the config starts with no link until `refreshLinks` reads it.
    private func rebuildWans(previousConfig: Config?, previouslyDown: Set<String> = []) {
        let keepDampers = previousConfig?.flapDamping == config.flapDamping
        let old = wans
        wans = [:]
        for wan in config.wans {
            var runtime = old[wan.name] ?? WanRuntime(damper: FlapDamper(config: config.flapDamping))
            if !keepDampers || old[wan.name] == nil {
                let up = runtime.linkUp && !previouslyDown.contains(wan.name)
                runtime.damper = FlapDamper(config: config.flapDamping, initialState: up ? .up : .down)
            }
            if let checks = FamilyHealth.checks(wan) {
                if let ipv6 = checks.ipv6 {
                    if runtime.ipv6Tracker?.check != ipv6 {
                        runtime.ipv6Tracker = WanHealthTracker(check: ipv6, now: clock.now, initialState: .up)
                        runtime.ipv6Judged = false
                    }
                    if runtime.ipv6Damper == nil || !keepDampers {
                        runtime.ipv6Damper = FlapDamper(config: config.flapDamping)
                    }
                } else {
                    runtime.ipv6Tracker = nil
                    runtime.ipv6Damper = nil
                }
                let check = checks.primary
                if let tracker = runtime.tracker, tracker.check == check {
                } else {
                    let down = previouslyDown.contains(wan.name)
                    runtime.tracker = WanHealthTracker(check: check, now: clock.now, initialState: down ? .down : .up)
                    runtime.judged = down
                    if down {
                        runtime.reason = WanRuntime.Reason(
                            text: "down before the restart; needs \(check.upAfter) good rounds", since: clock.wallNow)
                    }
                }
            } else {
                runtime.tracker = nil
                runtime.ipv6Tracker = nil
            }
            runtime.drained = drainedWans.contains(wan.name)
            wans[wan.name] = runtime
        }
    }

    private func startProbers() {
        proberEpoch += 1
        let currentEpoch = proberEpoch
        for wan in config.wans {
            guard let check = wan.health, let mark = wans[wan.name]?.mark else { continue }
            let emit = self.emit
            let name = wan.name
            let prober = probers.make(ProbeRequest(wan: wan, mark: mark, check: check)) { round in
                emit(.round(proberEpoch: currentEpoch, wanName: name, round))
            }
            prober.start()
            running.append(prober)
        }
    }

    /// Applies a fresh plan; returns how long it took in milliseconds, or nil when it failed.
    @discardableResult
    func reapply() -> Int? {
        let started = clock.now
        do {
            _ = try applyCurrent()
            return Int((clock.now - started).inMilliseconds)
        } catch {
            logger.error("re-plan failed, the previous state is still in force: \(error)")
            return nil
        }
    }

    private func flush(_ index: Int) {
        let wan = config.wans[index]
        // A policy member's flush_on_down wins over the top-level one (Config.flushesOnDown).
        guard config.flushesOnDown(wan.name) else { return }
        guard let mark = wans[wan.name]?.mark else { return }
        do {
            let deleted = try applier.kernel.flushConnections(mark: mark, mask: config.kernel.markMask)
            logger.info("flushed \(deleted) connection(s) of \(wan.name) so its clients reconnect through a healthy WAN")
        } catch {
            logger.error("cannot flush \(wan.name)'s connections: \(error)")
        }
    }

    private func remember(_ report: GatewayApplier.Report) {
        let marks = Dictionary(uniqueKeysWithValues: report.desired.wans.map { ($0.name, $0.mark) })
        for name in wans.keys { wans[name]?.mark = marks[name] }
        installedRouting = (Set(report.desired.policyRules), Set(report.desired.routes))
        if report.stateWarnings != loggedStateWarnings {
            for warning in report.stateWarnings { logger.warning("\(warning)") }
            if report.stateWarnings.isEmpty, !loggedStateWarnings.isEmpty { logger.notice("the state directory works again") }
            loggedStateWarnings = report.stateWarnings
        }
        // A WAN the host cannot route through (missing interface, off-link gateway, a refused
        // route or sysctl) is out of the split while the others were installed; say so once.
        let reasons = report.desired.unusableReasons
        for (name, reason) in reasons.sorted(by: { $0.key < $1.key }) where wans[name].map({ $0.unusable != reason }) ?? false {
            logger.warning("\(name) is out of service: \(reason)")
        }
        for name in wans.keys.sorted() where wans[name]?.unusable != nil && reasons[name] == nil {
            logger.notice("\(name) can be routed through again")
        }
        for name in wans.keys {
            wans[name]?.unusable = reasons[name]
            wans[name]?.ipv6Unusable = report.desired.ipv6UnusableReasons[name]
        }
        rememberGateways(report.desired)
    }

    /// Records each WAN's resolved gateway and route from the plan just applied, logs learned and
    /// lost gateways, and deletes the connections of a WAN whose route changed or went away: they
    /// were sent to a next hop that is no longer the WAN's (and only that WAN's are touched).
    private func rememberGateways(_ desired: DesiredState) {
        for (index, wan) in config.wans.enumerated() {
            guard var runtime = wans[wan.name] else { continue }
            let planned = desired.wans.first { $0.name == wan.name }
            let route = desired.routes.first { $0.device == wan.interface && $0.family == .ipv4 && $0.destination == nil }
            let oldRoute = runtime.route
            let waiting = desired.wansWithoutGateway.contains(wan.name)
            if waiting, !runtime.waitingForGateway {
                logger.notice("\(wan.name) waits for a gateway: \(desired.unusableReasons[wan.name] ?? "none learned yet")")
            }
            if let gateway = planned?.gateway, gateway.nextHop != runtime.gateway?.nextHop || runtime.gateway == nil,
                wan.gateway == .auto
            {
                logger.notice("\(wan.name) gateway is \(gateway)")
            }
            if !waiting,
                runtime.waitingForGateway || (runtime.gateway != nil && planned?.gateway?.nextHop != runtime.gateway?.nextHop)
            {
                runtime.gatewayChangedAt = clock.now
            }
            runtime.waitingForGateway = waiting
            runtime.gateway = planned?.gateway
            runtime.route = route
            wans[wan.name] = runtime
            if let oldRoute, oldRoute != route, route != nil || waiting {
                flushStale(
                    index,
                    because: route.map { "its route changed from \(oldRoute) to \($0)" } ?? "its gateway \(oldRoute) went away")
            }
        }
    }

    /// Re-reads the host and re-plans when a WAN's resolved gateway differs from the one installed
    /// (learned, changed, or lost). Returns true when it re-planned. Cheap when nothing changed:
    /// the host facts (three `ip` listings) and the lease reports.
    @discardableResult
    private func followGateways(reason: String) -> Bool {
        let facts: HostFacts
        do { facts = try applier.readHostFacts() } catch {
            logger.error("cannot read the host's routes (\(reason)): \(error)")
            return false
        }
        let changed = config.wans.filter { wan in
            guard let runtime = wans[wan.name], runtime.linkUp else { return false }
            let resolved = GatewayPlanner.resolveGateway(wan, host: facts).gateway
            return resolved?.nextHop != runtime.gateway?.nextHop || (resolved == nil) != (runtime.gateway == nil)
        }
        guard !changed.isEmpty else { return false }
        let started = clock.now
        let applied = reapply()
        publishStatus()
        logger.info(
            "re-planned: \(reason) (\(changed.map(\.name).joined(separator: ", ")))",
            metadata: [
                "apply_ms": "\(applied.map { "\($0)" } ?? "failed")",
                "elapsed_ms": "\(Int((clock.now - started).inMilliseconds))",
            ])
        return true
    }

    /// Deletes one WAN's conntrack entries whatever `flush_on_down` says: after a change of its
    /// address or gateway they can no longer work, and keeping them only delays the reconnect.
    private func flushStale(_ index: Int, because reason: String) {
        let wan = config.wans[index]
        guard let mark = wans[wan.name]?.mark else { return }
        do {
            let deleted = try applier.kernel.flushConnections(mark: mark, mask: config.kernel.markMask)
            logger.info("flushed \(deleted) connection(s) of \(wan.name): \(reason)")
        } catch {
            logger.error("cannot flush \(wan.name)'s connections (\(reason)): \(error)")
        }
    }

    /// Puts back Braid's ip rules and routes when one is missing (deleted by another tool or a
    /// careless admin). Returns true when something was missing. Cheap when nothing is: two
    /// `ip` listings, which is why it may run on every route or rule notification.
    @discardableResult
    private func repairRoutingIfMissing(reason: String) -> Bool {
        guard let (missingRules, missingRoutes) = missingRouting(reason: reason) else { return false }
        let started = clock.now
        let applied = reapply()
        hub?.notedRepair(
            count: missingRules.count + missingRoutes.count,
            what: "put back \(missingRules.count) ip rule(s) and \(missingRoutes.count) route(s) of Braid's (\(reason))",
            usable: usableWans)
        logger.notice(
            "repaired \(missingRules.count) ip rule(s) and \(missingRoutes.count) route(s) of Braid's that were deleted",
            metadata: [
                "noticed": "\(reason)", "apply_ms": "\(applied.map { "\($0)" } ?? "failed")",
                "elapsed_ms": "\(Int((clock.now - started).inMilliseconds))",
            ])
        return true
    }

    /// Whether one of the ip rules or routes the last apply installed is missing now.
    private func routingIsIncomplete(reason: String) -> Bool { missingRouting(reason: reason) != nil }

    /// Braid's ip rules and routes that are missing now; nil when none is (or they cannot be read).
    private func missingRouting(reason: String) -> (rules: Set<PolicyRule>, routes: Set<Route>)? {
        guard let installed = installedRouting else { return nil }
        let observed: ObservedKernelState
        do { observed = try applier.kernel.readRouting() } catch {
            logger.error("cannot read the ip rules and routes (\(reason)): \(error)")
            return nil
        }
        let missingRules = installed.rules.subtracting(observed.policyRules)
        let missingRoutes = installed.routes.subtracting(observed.routes)
        guard !missingRules.isEmpty || !missingRoutes.isEmpty else { return nil }
        return (missingRules, missingRoutes)
    }

    private func refreshLinks() throws(KernelError) {
        let facts = try applier.readHostFacts()
        for wan in config.wans {
            var runtime = wans[wan.name] ?? WanRuntime(damper: FlapDamper(config: config.flapDamping))
            runtime.linkUp = facts.interfaces[wan.interface]?.isUp ?? false
            runtime.addresses = facts.interfaces[wan.interface]?.addresses ?? []
            runtime.ipv6Link = wan.ipv6 == nil ? nil : IPv6LinkFacts(facts.interfaces[wan.interface])
            wans[wan.name] = runtime
        }
    }

    func publishStatus() {
        let now = clock.now
        let statuses = config.wans.map { wan -> WanHealthStatus in
            let runtime = wans[wan.name] ?? WanRuntime(damper: FlapDamper(config: config.flapDamping))
            let tracker = runtime.tracker
            let state = runtime.state(at: now)
            var reason = runtime.reason
            switch state {
            case .noAddress:
                reason = WanRuntime.Reason(text: "\(wan.interface) has no IPv4 address", since: reason?.since ?? clock.wallNow)
            case .unusable: reason = WanRuntime.Reason(text: runtime.unusable ?? "", since: reason?.since ?? clock.wallNow)
            case .noLink where runtime.unusable?.hasSuffix("does not exist") == true:
                reason = WanRuntime.Reason(text: runtime.unusable ?? "", since: reason?.since ?? clock.wallNow)
            case .noGateway:
                reason = WanRuntime.Reason(
                    text: runtime.unusable ?? "no gateway learned yet", since: reason?.since ?? clock.wallNow)
            default: break
            }
            let targets = [tracker, runtime.ipv6Tracker].compactMap { $0 }.flatMap { tracker in
                tracker.check.targets.enumerated().map { index, address in
                    TargetHealthStatus(
                        address: "\(address)",
                        lastRTTMilliseconds: tracker.lastRTT(target: index).map { $0.inMilliseconds },
                        loss: tracker.loss(target: index))
                }
            }
            return WanHealthStatus(
                state: state, name: wan.name, since: reason?.since ?? status.snapshot.startedAt,
                reason: reason?.text ?? (wan.health == nil ? "no health check: up while its link is up" : "starting"),
                probe: wan.health.map {
                    "\($0.method) every \(DurationText.format($0.interval)), timeout \(DurationText.format($0.timeout)), down after \($0.downAfter), up after \($0.upAfter), quorum \($0.quorum)"
                },
                targets: targets, ipv6State: runtime.ipv6State(at: now),
                ipv6Reason: runtime.ipv6Tracker == nil ? nil : runtime.ipv6Unusable ?? runtime.ipv6Reason?.text,
                gateway: runtime.gateway.map { $0.nextHop.map { "\($0)" } ?? "none" })
        }
        status.update { $0.wans = statuses }
        hub?.published(
            config: config, statuses: statuses, marks: wans.compactMapValues(\.mark),
            addresses: wans.mapValues { $0.addresses.map(\.description) })
    }
}
