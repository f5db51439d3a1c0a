import ArgumentParser
import BraidApply
import BraidConfig
import BraidKernel
import BraidPlanner

/// `braid plan`: prints exactly what `apply` would install. Needs no root and changes nothing.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the nft ruleset, ip rules, routes and sysctls apply would install.")

    @OptionGroup var options: ConfigOptions
    @OptionGroup var state: StateOptions

    func run() throws {
        let config = try loadConfig(options)
        // Planning on another machine is useful (review a config before deploying it); say what
        // is missing here instead of refusing, since `apply` checks it for real.
        var hostFacts = (try? LinuxKernel().readHostFacts()) ?? HostFacts(interfaces: [])
        hostFacts.leaseReports = ClientLeaseReportStore(stateDirectory: state.stateDirectory).load()
        let (facts, missingWans, missingLans) = hostFacts.fillingInMissingInterfaces(of: config, assumedUp: true)
        for name in missingLans { printWarning("interface \(name) does not exist on this host; planned as if it were up") }
        for name in missingWans {
            printWarning(
                "interface \(name) does not exist on this host; planned as if it were up, with a fixed gateway's address standing in for its own"
            )
        }
        // The WANs' slots (marks, tables) as installed, when Braid is: apply keeps them.
        let kernel = LinuxKernel()
        let stored = AppliedStateStore(directory: state.stateDirectory).load()
        let observed = try? kernel.readState(layout: config.kernel)
        if stored?.wanSlots == nil && observed == nil {
            printWarning(
                "cannot read Braid's installed state here (not root?); WAN marks and tables are shown in list order, which apply keeps only on a fresh host"
            )
        }
        let previousSlots = GatewayApplier.previousSlots(config, stored: stored, observed: observed ?? ObservedKernelState())
        do {
            let desired = try GatewayPlanner.plan(config, host: facts, previousSlots: previousSlots)
            for warning in desired.warnings { printWarning(warning) }
            print(PlanPrinter.render(desired), terminator: "")
        } catch {
            printError(error.description)
            throw ExitStatus.invalidInput
        }
    }
}
