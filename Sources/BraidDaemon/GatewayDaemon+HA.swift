import BraidConfig
import BraidHA
import Foundation
import Logging

/// The HA side of the daemon, with `ha:`: keepalived and conntrackd under an `HASupervisor`, fed
/// with the number of usable WANs from the status board, its role copied into status, events
/// and metrics.
final class HighAvailabilityRun: Sendable {
    let supervisor: HASupervisor
    private let refresher: Task<Void, Never>

    init(supervisor: HASupervisor, status: StatusBoard) {
        self.supervisor = supervisor
        refresher = Task {
            while !Task.isCancelled {
                let current = supervisor.status
                status.update { $0.ha = current }
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
    }

    func stop() {
        refresher.cancel()
        supervisor.stop()
    }
}

extension GatewayDaemon {
    /// Starts the HA supervisor when the config has `ha:`; nil otherwise.
    func startHighAvailability(hub: DaemonHub) throws(DaemonError) -> HighAvailabilityRun? {
        guard let ha = config.ha else { return nil }
        let status = hub.status
        let logger = self.logger
        let supervisor = HASupervisor(
            config: config, ha: ha, stateDirectory: store.directory, logger: logger,
            usableWans: { status.snapshot.wans.filter { $0.state.carriesTraffic }.count },
            onRoleChange: { change in
                let usable = status.snapshot.wans.filter { $0.state.carriesTraffic }.map(\.name)
                _ = hub.events.record(
                    GatewayEventRecord(
                        kind: .role, from: change.from.rawValue, to: change.to.rawValue, reason: change.reason,
                        usableWans: usable))
                hub.telemetry.haRoleChanged(to: change.to.rawValue)
            })
        do { try supervisor.start() } catch {
            supervisor.stop()
            throw .highAvailability("\(error)")
        }
        hub.telemetry.haRoleChanged(to: HARole.starting.rawValue)
        return HighAvailabilityRun(supervisor: supervisor, status: status)
    }

    /// A reload keeps the `ha:` section the daemon started with: keepalived and conntrackd run
    /// from it, and the plan (slots, SNAT addresses) must match what they do. Changing it needs a
    /// restart of `braid run`, which the log says.
    static func keepingHighAvailability(
        of running: Config, in loaded: Result<Config, ConfigError>, logger: Logger
    ) -> Result<Config, ConfigError> {
        guard case .success(var config) = loaded, config.ha != running.ha else { return loaded }
        logger.warning("ha: the reloaded config changes the ha: section; that takes effect at the next start of braid run")
        config.ha = running.ha
        return .success(config)
    }
}
