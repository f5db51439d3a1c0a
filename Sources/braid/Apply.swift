import ArgumentParser
import BraidKernel

/// `braid apply`: installs the config, or replaces what is installed; idempotent.
struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Install the config into the kernel (atomically; idempotent).")

    @OptionGroup var options: ConfigOptions
    @OptionGroup var state: StateOptions

    func run() throws {
        let config = try loadConfig(options)
        try requireRoot("apply")
        let applier = makeApplier(state)
        if applier.store.daemonLock.isHeldElsewhere() {
            let daemon = applier.store.daemonLock.holder().map { " (pid \($0))" } ?? ""
            printWarning("the daemon\(daemon) runs on \(state.stateDirectory) and re-applies its own config at its next "
                + "change; to change its config, edit it and send SIGHUP (`systemctl reload braid`)")
        }
        do {
            let report = try applier.apply(config)
            for warning in report.stateWarnings { printWarning(warning) }
            if report.performed.isEmpty {
                print("Braid is already up to date: nothing changed")
            } else {
                for step in report.performed { print("  \(step)") }
                print("applied \(report.performed.count) change(s) for \(config.wans.count) WAN(s)")
            }
            for (name, count) in report.flushedConnections.sorted(by: { $0.key < $1.key }) {
                print("deleted \(count) connection(s) of \(name), which left the config (flush_on_down)")
            }
            for (name, reason) in report.desired.unusableReasons.sorted(by: { $0.key < $1.key }) {
                printWarning("applied, but \(name) carries no traffic: \(reason)")
            }
            for (name, reason) in report.flushFailures.sorted(by: { $0.key < $1.key }) {
                printWarning("applied, but the connections of \(name), which left the config, could not be deleted: \(reason)")
            }
            for finding in ForeignFirewallAudit.check(config: config, kernel: applier.kernel) { printWarning(finding.warning) }
        } catch {
            throw exitStatus(for: error)
        }
    }
}
