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

    public static let defaultResyncInterval = Duration.seconds(10)

    public init(config: Config, configPath: String, kernel: any KernelPort, store: AppliedStateStore, logger: Logger,
                resyncInterval: Duration = Self.defaultResyncInterval) {
        self.config = config
        self.configPath = configPath
        self.kernel = kernel
        self.store = store
        self.logger = logger
        self.resyncInterval = resyncInterval
    }

    /// Where the status socket lives for a given state directory.
    public static func statusSocketPath(stateDirectory: String) -> String { stateDirectory + "/braid.sock" }

    public func run() async throws {
        let (events, continuation) = AsyncStream.makeStream(of: DaemonEvent.self, bufferingPolicy: .unbounded)
        let status = StatusBoard(DaemonStatus(pid: getpid(), configPath: configPath, startedAt: Date(), wans: []))
        let controller = GatewayController(config: config, configPath: configPath,
                                           applier: GatewayApplier(kernel: kernel, store: store), logger: logger,
                                           status: status, emit: { continuation.yield($0) })
        try controller.start()

        let monitor = try LinkMonitor { continuation.yield(.linkChanged) }
        monitor.start()
        try FileManager.default.createDirectory(atPath: store.directory, withIntermediateDirectories: true)
        let statusServer = try StatusSocketServer(path: Self.statusSocketPath(stateDirectory: store.directory)) {
            status.snapshot
        }
        statusServer.start()
        let hangups = Task {
            for await _ in await UnixSignalsSequence(trapping: .sighup) { continuation.yield(.reload) }
        }
        let resyncs = Task { [resyncInterval] in
            while !Task.isCancelled {
                try? await Task.sleep(for: resyncInterval)
                continuation.yield(.resync)
            }
        }
        logger.info("running", metadata: ["config": "\(configPath)", "status_socket": "\(statusServer.path)"])

        await withGracefulShutdownHandler {
            for await event in events { controller.handle(event) }
        } onGracefulShutdown: {
            continuation.finish()
        }
        hangups.cancel()
        resyncs.cancel()
        controller.stop()
        monitor.stop()
        statusServer.stop()
        logger.info("stopped; Braid's rules, routes and table stay in force (`braid down` removes them)")
    }
}
