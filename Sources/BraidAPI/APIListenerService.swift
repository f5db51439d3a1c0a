import BraidConfig
import BraidDaemon
import Logging
import ServiceLifecycle

/// Runs `APIServer` on the address the current config names, and moves it when a reload (SIGHUP,
/// `POST /api/v1/reload`) changes `api.listen` or `api.token_file`: the old listener closes, a
/// new one opens; `listen: none` closes it, and a reload that names an address again opens it.
/// A token file that cannot be used keeps the old listener (and says why), as `braid run` would
/// refuse it at start. The gateway never waits for any of this: the control loop only publishes
/// the config it applied (`DaemonHub.config`), which this service looks at twice a second.
public struct APIListenerService: Service {
    let hub: DaemonHub
    let telemetry: PrometheusTelemetry?
    let logger: Logger
    let initial: ApiConfig
    let initialToken: ApiToken?
    /// How often the applied config is compared with the one the listener was opened for.
    let pollInterval: Duration

    public init(
        hub: DaemonHub, api: ApiConfig, token: ApiToken?, telemetry: PrometheusTelemetry?, logger: Logger,
        pollInterval: Duration = .milliseconds(500)
    ) {
        self.hub = hub
        self.initial = api
        self.initialToken = token
        self.telemetry = telemetry
        self.logger = logger
        self.pollInterval = pollInterval
    }

    public func run() async throws {
        // Graceful shutdown (SIGTERM) cancels the loop below; the server in it sees the same
        // shutdown and closes its connections.
        try await cancelWhenGracefulShutdown { try await listen() }
    }

    private func listen() async throws {
        // `serving`: what the listener runs with; `seen`: the last applied settings looked at (a
        // refused token file keeps `serving` but must not be retried at every poll).
        var serving = initial
        var seen = initial
        var token = initialToken
        while !Task.isCancelled {
            let next = await withTaskGroup(of: ApiConfig?.self) { group -> ApiConfig? in
                if let listen = serving.listen {
                    let server = APIServer(listen: listen, token: token, hub: hub, telemetry: telemetry, logger: logger)
                    group.addTask { [logger] in
                        // A taken port is logged and the daemon runs on without the API until a reload moves it.
                        do { try await server.run() } catch where !Task.isCancelled {
                            logger.error("HTTP API on \(listen) stopped: \(error)")
                        } catch {}
                        return nil
                    }
                }
                group.addTask { [hub, pollInterval, seen] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: pollInterval)
                        let applied = hub.config.api
                        if applied != seen { return applied }
                    }
                    return nil
                }
                // The first to finish is either the watcher (a change) or a server that stopped;
                // in the second case keep watching for a reload that fixes it.
                while let finished = await group.next() {
                    if let change = finished {
                        group.cancelAll()
                        return change
                    }
                }
                return nil
            }
            guard let next, !Task.isCancelled else { return }
            seen = next
            var nextToken: ApiToken?
            if next.listen != nil, let path = next.tokenFile {
                do { nextToken = try ApiToken.load(path: path) } catch {
                    logger.error("reload: the HTTP API stays on \(describe(serving.listen)): \(error)")
                    continue
                }
            }
            let what =
                next.listen == serving.listen
                ? "the HTTP API on \(describe(next.listen)) now uses token file \(next.tokenFile ?? "none")"
                : "the HTTP API moved from \(describe(serving.listen)) to \(describe(next.listen))"
            if telemetry == nil, next.listen != nil {
                logger.warning(
                    "the API was off when the daemon started: /metrics lacks the probe, apply and failover histograms until a restart"
                )
            }
            logger.notice("reload: \(what)")
            let usable = hub.status.snapshot.wans.filter { $0.state.carriesTraffic }.map(\.name)
            hub.events.record(GatewayEventRecord(kind: .reload, reason: what, usableWans: usable))
            serving = next
            token = nextToken
        }
    }

    private func describe(_ listen: ListenAddress?) -> String { listen.map { "http://\($0)/" } ?? "none (off)" }
}
