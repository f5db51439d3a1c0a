import BraidApply
import BraidConfig
import BraidKernel
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `braid run` as a service: wires the controller to its event sources (probers, rtnetlink,
/// SIGHUP) and to the status socket, and runs until SIGTERM/SIGINT. On exit the dataplane stays
/// in place, so restarting the daemon (or upgrading it) never drops a flow.
public struct GatewayDaemon: Service {
    let config: Config
    let configPath: String
    let kernel: any KernelPort
    let store: AppliedStateStore
    let logger: Logger
    /// How often the kernel is compared with the plan and repaired.
    let resyncInterval: Duration
    let clock = SystemDaemonClock()
    /// Shared with the HTTP API (status, events, metrics, commands); made here when none is given.
    let hub: DaemonHub?
    /// Whether the pages of the binary touched while starting (or reloading) are given back once
    /// the daemon has settled (`ProcessMemory.releaseCodePages`); `braid run` does.
    let releasesStartupPages: Bool
    /// How long after start, and after each reload, those pages are given back: by then the first
    /// apply, the first probe rounds and the API's first requests have run.
    static let startupPagesRelease = Duration.seconds(5)

    public static let defaultResyncInterval = Duration.seconds(10)

    public init(
        config: Config, configPath: String, kernel: any KernelPort, store: AppliedStateStore, logger: Logger,
        resyncInterval: Duration = Self.defaultResyncInterval, hub: DaemonHub? = nil, releasesStartupPages: Bool = false
    ) {
        self.hub = hub
        self.releasesStartupPages = releasesStartupPages
        self.config = config
        self.configPath = configPath
        self.kernel = kernel
        self.store = store
        self.logger = logger
        self.resyncInterval = resyncInterval
    }

    /// The signal a client hook sends the daemon after writing a lease report: SIGUSR1, which
    /// the daemon traps for nothing else.
    public static let leaseReportSignal = UnixSignal.sigusr1

    /// Where the status socket lives for a given state directory.
    public static func statusSocketPath(stateDirectory: String) -> String { stateDirectory + "/braid.sock" }

    /// Parses the config on a thread of its own: a hostile or huge file must not hold up the
    /// control loop (or the cooperative pool it shares) while a WAN fails.
    static func loadOffTheControlLoop(_ path: String) async -> Result<Config, ConfigError> {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: Result { () throws(ConfigError) -> Config in try ConfigLoader.load(path: path) })
            }
            thread.name = "braid-config-reload"
            thread.start()
        }
    }

    public func run() async throws {
        // Before anything else: a client hook that reports a lease while the daemon starts sends
        // SIGUSR1, whose default action would kill it. (The trap below takes the signal over; the
        // first apply reads every report anyway.)
        signal(Self.leaseReportSignal.rawValue, SIG_IGN)
        let (events, continuation) = AsyncStream.makeStream(of: DaemonEvent.self, bufferingPolicy: .unbounded)
        // Before touching the kernel: a socket path that does not fit, or a second daemon on the
        // same state directory, must stop this one with nothing changed.
        let socketPath = Self.statusSocketPath(stateDirectory: store.directory)
        guard socketPath.utf8.count <= StatusSocketServer.maximumPathLength else {
            throw DaemonError.statusSocket(
                "\(socketPath) is \(socketPath.utf8.count) bytes; a unix socket path can have at most "
                    + "\(StatusSocketServer.maximumPathLength): use a shorter --state-dir")
        }
        let alone: Bool
        do { alone = try store.daemonLock.tryAcquire() } catch {
            logger.warning("\(error); cannot make sure this is the only daemon on \(store.directory)")
            alone = true
        }
        guard alone else { throw DaemonError.alreadyRunning(stateDirectory: store.directory, pid: store.daemonLock.holder()) }
        defer { store.daemonLock.release() }

        let hub = self.hub ?? DaemonHub(config: config, configPath: configPath, store: store, kernel: kernel, logger: logger)
        let status = hub.status
        status.update { $0 = DaemonStatus(pid: getpid(), configPath: configPath, startedAt: clock.wallNow, wans: []) }
        // A daemon re-plan waits for an `apply` in progress, but not as long as a person would.
        let applier = GatewayApplier(kernel: kernel, store: store, lockTimeout: .seconds(30))
        let controller = GatewayController(
            config: config, configPath: configPath, applier: applier, logger: logger,
            status: status, clock: clock, probers: .system, hub: hub, emit: { continuation.yield($0) })
        try controller.start()
        hub.attach { continuation.yield($0) }
        let highAvailability = try startHighAvailability(hub: hub)

        let monitor = try LinkMonitor { kinds in
            if kinds.contains(.links) { continuation.yield(.linkChanged) }
            if kinds.contains(.routing) { continuation.yield(.routingChanged) }
        }
        monitor.start()
        // Without its socket the daemon still fails over: a read-only or full state directory
        // costs `braid status` its live view, retried at every resync, never the gateway.
        let statusServer = StatusSocketServer(path: socketPath) { status.snapshot }
        do { try statusServer.listen() } catch { logger.error("\(error); will retry at every resync") }
        let (settled, settle) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let pageRelease = Task { [releasesStartupPages, logger] in
            guard releasesStartupPages else { return }
            settle.yield()
            for await _ in settled {
                do { try await Task.sleep(for: Self.startupPagesRelease) } catch { return }
                // A debugger's breakpoints live in private copies of code pages, which the
                // release would drop: not while one is attached.
                if ProcessMemory.isTraced {
                    logger.info("a debugger or tracer is attached; the code pages touched while starting are kept")
                    continue
                }
                do {
                    let bytes = try ProcessMemory.releaseCodePages()
                    logger.debug("unmapped the code pages touched while starting (\(bytes / 1_048_576) MB of mappings)")
                } catch {
                    logger.notice("\(error); the daemon keeps the pages it touched while starting")
                    return
                }
            }
        }
        let hangups = Task { [configPath, config, logger] in
            for await _ in await UnixSignalsSequence(trapping: .sighup) {
                let loaded = await Self.loadOffTheControlLoop(configPath)
                continuation.yield(.reload(Self.keepingHighAvailability(of: config, in: loaded, logger: logger)))
                settle.yield()
            }
        }
        // `braid hooks report` (run by the DHCP/PPP client hooks) wrote a lease report.
        let leaseNudges = Task {
            for await _ in await UnixSignalsSequence(trapping: Self.leaseReportSignal) { continuation.yield(.leaseReported) }
        }
        let resyncs = Task { [resyncInterval, logger] in
            var lastSocketError = ""
            while !Task.isCancelled {
                try? await Task.sleep(for: resyncInterval)
                continuation.yield(.resync)
                // Someone removed the state directory: bring the status socket back.
                do {
                    if try statusServer.ensureListening() {
                        logger.notice("the status socket was gone; listening again at \(socketPath)")
                    }
                    lastSocketError = ""
                } catch {
                    if "\(error)" != lastSocketError { logger.error("cannot listen at \(socketPath) again: \(error)") }
                    lastSocketError = "\(error)"
                }
            }
        }
        logger.info("running", metadata: ["config": "\(configPath)", "status_socket": "\(statusServer.path)"])

        await withGracefulShutdownHandler {
            for await event in events { controller.handle(event) }
        } onGracefulShutdown: {
            continuation.finish()
        }
        hub.attach(nil)
        highAvailability?.stop()
        hangups.cancel()
        pageRelease.cancel()
        leaseNudges.cancel()
        resyncs.cancel()
        controller.stop()
        monitor.stop()
        statusServer.stop()
        hub.events.flush()
        // Hooks of the last events get a moment to finish; one still running is left to itself.
        if !hub.hooks.waitUntilIdle(timeout: .seconds(2)) { logger.warning("stopping with event hooks still running") }
        logger.info("stopped; Braid's rules, routes and table stay in force (`braid down` removes them)")
    }
}
