import BraidConfig
import BraidHA
import Foundation

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
}
