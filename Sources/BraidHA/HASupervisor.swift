import BraidConfig
import BraidKernel
import BraidPlanner
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The HA side of `braid run`: writes keepalived's and conntrackd's configs into the state
/// directory, runs both as supervised children, follows keepalived's role reports (its notify
/// FIFO), drives conntrackd on every role change, keeps keepalived's track file in line with
/// Braid's WAN health (`HAReadiness`), and exchanges slot-layout digests with the peer
/// (`HAPeerLink`).
///
/// On becoming active it commits conntrackd's external cache (the peer's connections) to the
/// kernel first, then resyncs: keepalived has already moved the addresses when it reports, so
/// every millisecond before the commit is one in which packets of synced connections find no
/// entry (Braid's table drops such mid-stream TCP packets rather than balance them anew, see
/// `HANATRules`, and their senders retransmit).
public final class HASupervisor: Sendable {
    public let ha: HAConfig
    public let paths: HAPaths
    public let layoutDigest: String
    private let config: Config
    private let logger: Logger
    private let usableWans: @Sendable () -> Int
    private let onRoleChange: @Sendable (HARoleChange) -> Void
    private let state: Mutex<State>
    private let running = Atomic<Bool>(true)
    private let children = Mutex<[SupervisedChild]>([])
    private let peerLink = Mutex<HAPeerLink?>(nil)
    private let roleActions = DispatchQueue(label: "braid-ha-role-actions")

    private struct State {
        var role: HARole = .starting
        var since = Date()
        var reason = "keepalived has not reported yet"
        var readiness: HAReadiness
        var transitions = 0
        var lastCommit: Duration?
        var internalEntries: Int?
        var externalEntries: Int?
        var fifoDescriptor: Int32 = -1
    }

    public static let keepalived = "/usr/sbin/keepalived"
    public static let conntrackd = "/usr/sbin/conntrackd"

    /// `usableWans`: how many WANs carry traffic now (read from the daemon's status; called often,
    /// must return at once). `onRoleChange` is called on a thread of the supervisor's own.
    public init(
        config: Config, ha: HAConfig, stateDirectory: String, logger: Logger,
        usableWans: @escaping @Sendable () -> Int, onRoleChange: @escaping @Sendable (HARoleChange) -> Void
    ) {
        self.config = config
        self.ha = ha
        paths = HAPaths(stateDirectory: stateDirectory)
        layoutDigest = HASlotLayout.digest(config)
        self.logger = logger
        self.usableWans = usableWans
        self.onRoleChange = onRoleChange
        state = Mutex(State(readiness: HAReadiness(stableAfter: ha.stableAfter, usableWans: usableWans())))
    }

    /// Writes the configs and starts conntrackd, keepalived, the peer hello and the watchers.
    public func start() throws(HAError) {
        for program in [Self.keepalived, Self.conntrackd] where !FileManager.default.isExecutableFile(atPath: program) {
            throw .program("\(program) is not installed; `ha:` needs keepalived and conntrackd (scripts/install-dependencies)")
        }
        try? FileManager.default.createDirectory(atPath: paths.directory, withIntermediateDirectories: true)
        guard let localAddress = Self.syncAddress(ha.syncInterface) else { throw .noSyncAddress(interface: ha.syncInterface) }
        try writeTrackFile(ready: state.withLock { $0.readiness.ready })
        try write(paths.keepalivedConfig, KeepalivedConfig.render(config, ha: ha, paths: paths))
        try write(paths.conntrackdConfig, ConntrackdConfig.render(ha: ha, localSyncAddress: localAddress, paths: paths))
        stopStaleChildren()
        unlink(paths.notifyFifo)
        guard mkfifo(paths.notifyFifo, 0o600) == 0 else {
            throw .file(path: paths.notifyFifo, reason: String(cString: strerror(errno)))
        }
        // Read-write, so the FIFO never reports end-of-file while keepalived restarts.
        let fifo = open(paths.notifyFifo, O_RDWR | O_CLOEXEC)
        guard fifo >= 0 else { throw .file(path: paths.notifyFifo, reason: String(cString: strerror(errno))) }
        state.withLock { $0.fifoDescriptor = fifo }
        Thread.detachNewThread { [self] in readNotifications(fifo) }

        let link = try HAPeerLink(localAddress: localAddress, peer: ha.peer)
        peerLink.withLock { $0 = link }
        link.start { [self] in HAPeerLink.hello(layoutDigest: layoutDigest, role: state.withLock { $0.role }) }

        let paths = self.paths
        let conntrackd = SupervisedChild(
            name: "conntrackd", executable: Self.conntrackd, arguments: ["-C", paths.conntrackdConfig], logger: logger,
            prepare: {
                // A conntrackd killed with SIGKILL leaves its lock file and socket; the next one
                // would refuse to start ("lockfile exists").
                unlink(paths.conntrackdLock)
                unlink(paths.conntrackdSocket)
            })
        // --vrrp: no health-checker child; -p/-r: pid files of our own, so a second pair on this
        // host (the lab) is not taken for this one.
        let keepalived = SupervisedChild(
            name: "keepalived", executable: Self.keepalived,
            arguments: [
                "--dont-fork", "--log-console", "--vrrp", "--use-file", paths.keepalivedConfig, "--pid", paths.keepalivedPid,
                "--vrrp_pid", paths.vrrpPid,
            ], logger: logger,
            prepare: { [self] in stopStale(pidFile: paths.keepalivedPid, marker: paths.keepalivedConfig) },
            onExit: { [self] in keepalivedDied() })
        try conntrackd.start()
        try keepalived.start()
        children.withLock { $0 = [conntrackd, keepalived] }
        Thread.detachNewThread { [self] in watchReadiness() }
        logger.info(
            "ha: keepalived and conntrackd started",
            metadata: [
                "priority": "\(ha.priority)", "sync": "\(ha.syncInterface) \(localAddress) ↔ \(ha.peer)",
                "slot_layout": "\(layoutDigest) (\(HASlotLayout.text(config)))",
            ])
    }

    /// Stops keepalived first (it removes the virtual addresses, so the peer takes over at once),
    /// then conntrackd and the peer hello.
    public func stop() {
        running.store(false, ordering: .relaxed)
        let list = children.withLock { $0 }
        // keepalived (last started) first, with time to send its goodbye advert and remove the
        // addresses; conntrackd has nothing to save.
        for child in list.reversed() { child.stop(grace: child.name == "keepalived" ? .seconds(3) : .seconds(1)) }
        peerLink.withLock { $0?.stop() }
        let fifo = state.withLock { $0.fifoDescriptor }
        if fifo >= 0 { close(fifo) }
        unlink(paths.notifyFifo)
    }

    /// The current state, for status and metrics.
    public var status: HAStatus {
        let link = peerLink.withLock { $0 }
        let heard = link?.lastHeard
        let conntrackdRunning = children.withLock { $0.first { $0.name == "conntrackd" }?.isRunning ?? false }
        return state.withLock { state in
            HAStatus(
                role: state.role, since: state.since, reason: state.reason, priority: ha.priority, preempt: ha.preempt,
                peer: "\(ha.peer)", peerReachable: link?.peerReachable ?? false, peerRole: heard?.role,
                layoutDigest: layoutDigest, peerLayoutDigest: heard?.layoutDigest, ready: state.readiness.ready,
                syncState: conntrackdRunning ? "running" : "restarting", internalCacheEntries: state.internalEntries,
                externalCacheEntries: state.externalEntries, transitions: state.transitions,
                lastCommitMilliseconds: state.lastCommit.map {
                    Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1000
                })
        }
    }

    // MARK: keepalived's reports

    private func readNotifications(_ descriptor: Int32) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while running.load(ordering: .relaxed) {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return }
            pending += buffer[..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: pending[..<newline], as: UTF8.self)
                pending.removeSubrange(...newline)
                guard let notification = KeepalivedNotification(line: line), notification.scope == .group,
                    notification.name == KeepalivedConfig.groupName
                else { continue }
                roleReported(notification.role, at: ContinuousClock.now)
            }
        }
    }

    private func roleReported(_ role: HARole, at reportedAt: ContinuousClock.Instant) {
        let change: HARoleChange? = state.withLock { state in
            guard state.role != role else { return nil }
            let reason: String =
                switch role {
                case .active: "keepalived: this gateway is VRRP master"
                case .backup: "keepalived: the peer is master (or this gateway does not preempt)"
                case .fault: "keepalived: fault (\(state.readiness.ready ? "an interface is down" : state.readiness.reason))"
                case .stopped, .starting: "keepalived is not running; it is being started again"
                }
            let change = HARoleChange(from: state.role, to: role, reason: reason)
            state.role = role
            state.since = Date()
            state.reason = reason
            state.transitions += 1
            return change
        }
        guard let change else { return }
        logger.notice("ha: \(change.from.rawValue) → \(change.to.rawValue): \(change.reason)")
        // Serial, in report order: a quick master → backup → master must not commit after the resync.
        roleActions.async { [self] in
            switch role {
            case .active:
                conntrackdCommand("-c")  // the peer's connections into the kernel, before anything else
                let committed = ContinuousClock.now - reportedAt
                state.withLock { $0.lastCommit = committed }
                logger.notice("ha: conntrackd committed the synced connections \(committed) after the takeover report")
                conntrackdCommand("-f")  // flush both caches: the kernel is the truth now
                conntrackdCommand("-R")  // refill the internal cache from the kernel
                conntrackdCommand("-B")  // and send it all to the peer
            case .backup:
                conntrackdCommand("-t")  // shorten the kernel's timers: entries here are the old active's leftovers
                conntrackdCommand("-n")  // ask the active peer for its connections
            case .fault:
                conntrackdCommand("-t")
            case .stopped, .starting: break
            }
            onRoleChange(change)
        }
    }

    /// keepalived died without saying so (a crash, SIGKILL): it cannot have removed the virtual
    /// addresses, and without it this gateway must not hold them, or both gateways would answer
    /// for them once the peer takes over.
    private func keepalivedDied() {
        roleReported(.stopped, at: .now)
        for entry in ha.virtualAddresses {
            for address in entry.addresses {
                _ = try? ProcessCommandRunner().run(["ip", "address", "del", "\(address)", "dev", entry.interface])
            }
        }
    }

    @discardableResult
    private func conntrackdCommand(_ flag: String) -> CommandResult? {
        let result = try? ProcessCommandRunner().run([Self.conntrackd, "-C", paths.conntrackdConfig, flag])
        if let result, result.status != 0 {
            logger.warning(
                "ha: conntrackd \(flag) failed (status \(result.status)): \(result.standardError.trimmingCharacters(in: .whitespacesAndNewlines))"
            )
        }
        return result
    }

    // MARK: readiness → track file

    private func watchReadiness() {
        var lastStats = ContinuousClock.now
        while running.load(ordering: .relaxed) {
            let usable = usableWans()
            let peerDigest = peerLink.withLock { $0?.lastHeard?.layoutDigest }
            let (changed, ready, reason) = state.withLock { state in
                let changed = state.readiness.update(
                    usableWans: usable, layoutDigest: layoutDigest, peerLayoutDigest: peerDigest,
                    active: state.role == .active, at: .now)
                if !state.readiness.ready, state.role != .active { state.reason = state.readiness.reason }
                return (changed, state.readiness.ready, state.readiness.reason)
            }
            if changed {
                do { try writeTrackFile(ready: ready) } catch { logger.error("ha: \(error)") }
                if ready {
                    logger.notice("ha: ready to be active again (\(reason))")
                } else {
                    logger.warning("ha: giving up the active role: \(reason)")
                }
            }
            if ContinuousClock.now - lastStats > .seconds(2) {
                lastStats = ContinuousClock.now
                readCacheStatistics()
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// `conntrackd -s` lists "cache internal" and "cache external" blocks with
    /// "current active connections: N"; both counts go to status.
    private func readCacheStatistics() {
        guard let result = conntrackdStatistics() else { return }
        let counts = Self.cacheCounts(result)
        state.withLock {
            $0.internalEntries = counts.internal
            $0.externalEntries = counts.external
        }
    }

    private func conntrackdStatistics() -> String? {
        guard let result = try? ProcessCommandRunner().run([Self.conntrackd, "-C", paths.conntrackdConfig, "-s"]),
            result.status == 0
        else { return nil }
        return result.standardOutput
    }

    // MARK: files

    private func writeTrackFile(ready: Bool) throws(HAError) {
        try write(paths.trackFile, ready ? "0\n" : "1\n")
    }

    private func write(_ path: String, _ text: String) throws(HAError) {
        do { try text.write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw .file(path: path, reason: "\(error)")
        }
    }
}
