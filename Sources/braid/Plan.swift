import ArgumentParser
import BraidConfig
import BraidKernel
import BraidPlanner

/// `braid plan`: prints exactly what `apply` would install. Needs no root and changes nothing.
struct Plan: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the nft ruleset, ip rules, routes and sysctls apply would install.")

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config = try loadConfig(options)
        var facts = (try? LinuxKernel().readHostFacts()) ?? HostFacts(interfaces: [])
        // Planning on another machine is useful (review a config before deploying it); say what
        // is missing here instead of refusing, since `apply` checks it for real.
        for name in config.lan.interfaces + config.wans.map(\.interface) where facts.interfaces[name] == nil {
            printWarning("interface \(name) does not exist on this host; planned as if it were up")
            facts.interfaces[name] = InterfaceFacts(name: name)
        }
        do {
            print(PlanPrinter.render(try GatewayPlanner.plan(config, host: facts)), terminator: "")
        } catch {
            printError(error.description)
            throw ExitStatus.invalidInput
        }
    }
}
