import ArgumentParser
import BraidApply
import BraidKernel
import BraidPlanner

/// `braid apply`: installs the config, or replaces what is installed; idempotent.
struct Apply: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Install the config into the kernel (atomically; idempotent).")

    @OptionGroup var options: ConfigOptions
    @OptionGroup var state: StateOptions
    @Flag(help: "Change kernel.mark_mask even though open connections carry the old marks; they reconnect.")
    var renumberMarks = false

    func run() throws {
        let config = try loadConfig(options)
        try requireRoot("apply")
        var applier = makeApplier(state)
        applier.renumberMarks = renumberMarks
        if applier.store.daemonLock.isHeldElsewhere() {
            let daemon = applier.store.daemonLock.holder().map { " (pid \($0))" } ?? ""
            printWarning(
                "the daemon\(daemon) runs on \(state.stateDirectory) and re-applies its own config at its next "
                    + "change; to change its config, edit it and send SIGHUP (`systemctl reload braid`)")
        }
        do {
            let report = try applier.apply(config)
            ConfigPathRecord(stateDirectory: state.stateDirectory).save(options.config)
            for warning in report.stateWarnings + report.desired.warnings { printWarning(warning) }
            if report.performed.isEmpty {
                print("Braid is already up to date: nothing changed")
            } else {
                for step in report.performed { print("  \(step)") }
                print("applied \(report.performed.count) change(s) for \(config.wans.count) WAN(s)")
            }
            for (name, count) in report.flushedConnections.sorted(by: { $0.key < $1.key }) {
                print("deleted \(count) connection(s) of \(name), which left the config (flush_on_down)")
            }
            if let renumbering = report.renumbering {
                let masks = renumbering.oldMasks.map(hex).joined(separator: ", ")
                if let deleted = report.renumberedConnections ?? (renumbering.openConnections == 0 ? 0 : nil) {
                    print(
                        "renumbered the marks from \(masks) to \(hex(config.kernel.markMask)); deleted \(deleted) connection(s) that carried the old marks"
                    )
                } else {
                    printWarning(
                        "renumbered the marks from \(masks) to \(hex(config.kernel.markMask)); connections that carried the old marks "
                            + "were left to time out (\(report.renumberFailure ?? "the old and new masks share bits"))")
                }
            }
            for (name, reason) in report.desired.unusableReasons.sorted(by: { $0.key < $1.key }) {
                let wan = config.wans.first { $0.name == name }
                if report.desired.wansWithoutGateway.contains(name) {
                    printWarning("applied; \(name) waits for a gateway (\(reason)); it takes traffic once one is learned")
                } else if let wan, reason == "interface \(wan.interface) does not exist" {
                    printWarning("applied; \(name) is no_link: its interface \(wan.interface) does not exist (yet)")
                } else {
                    printWarning("applied, but \(name) carries no traffic: \(reason)")
                }
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
