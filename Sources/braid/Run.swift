import ArgumentParser
import BraidAPI
import BraidApply
import BraidConfig
import BraidDaemon
import BraidKernel
import Logging
import ServiceLifecycle

/// `braid run`: the daemon, in the foreground. Health-checks every WAN and re-plans on every change.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon: apply the config, health-check every WAN, fail over in under a second.",
        discussion:
            "SIGHUP re-reads the config (an invalid one is logged and ignored). SIGTERM stops the daemon and leaves the dataplane in place."
    )

    @OptionGroup var options: ConfigOptions
    @OptionGroup var state: StateOptions
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = "info"
    @Option(help: "How often to compare the kernel with the plan and repair changes made outside Braid (e.g. 10s).")
    var resyncInterval: String = "10s"
    @Flag(
        help:
            "Keep the code pages touched while starting mapped (by default they are unmapped 5 s after start and after each reload; a debugger's or uprobe's breakpoints set before then would be lost)."
    )
    var keepCodePages = false

    func run() async throws {
        // glibc gives each thread that contends for malloc an arena of its own (up to 8 per core),
        // each keeping its freed memory; the daemon's dozen threads allocate little, so two do.
        ProcessMemory.limitMallocArenas(to: 2)
        let config = try loadConfig(options)
        try requireRoot("run")
        guard let level = Logger.Level(rawValue: logLevel) else {
            printError(
                "--log-level: \"\(ControlCharacters.escaped(logLevel))\" is not one of trace, debug, info, notice, warning, error"
            )
            throw ExitStatus.invalidInput
        }
        // Below 100ms the resync would keep nft busy; above an hour, drift outside Braid goes unrepaired too long.
        guard let resync = DurationText.parse(resyncInterval), (.milliseconds(100)...(.seconds(3600))).contains(resync) else {
            printError(
                "--resync-interval: \"\(ControlCharacters.escaped(resyncInterval))\" is not a duration from 100ms to 3600s (as 10s or 500ms)"
            )
            throw ExitStatus.invalidInput
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "braid")
        // The token file is checked before anything changes: a file others can read is refused, not used.
        var token: ApiToken?
        if config.api.listen != nil, let path = config.api.tokenFile {
            do { token = try ApiToken.load(path: path) } catch {
                printError("\(error); `braid run` did not start")
                throw ExitStatus.invalidInput
            }
        }
        let store = AppliedStateStore(directory: state.stateDirectory)
        let kernel = LinuxKernel()
        let telemetry = config.api.listen == nil ? nil : PrometheusTelemetry()
        let hub = DaemonHub(
            config: config, configPath: options.config, store: store, kernel: kernel,
            telemetry: telemetry ?? NoTelemetry(), logger: logger)
        ConfigPathRecord(stateDirectory: state.stateDirectory).save(options.config)
        let daemon = GatewayDaemon(
            config: config, configPath: options.config, kernel: kernel, store: store, logger: logger,
            resyncInterval: resync, hub: hub, releasesStartupPages: !keepCodePages)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: daemon)]
        // The API stopping (its port taken, say) must not stop the gateway: it is logged, the daemon
        // runs on. It runs even with `listen: none`, so a reload that turns the API on opens it.
        services.append(
            .init(
                service: APIListenerService(hub: hub, api: config.api, token: token, telemetry: telemetry, logger: logger),
                successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch let error as ApplyError {
            throw exitStatus(for: error)
        } catch {
            printError("\(error)")
            throw ExitStatus.kernelFailure
        }
    }
}
