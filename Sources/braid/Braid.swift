import ArgumentParser

/// The `braid` command: parses arguments and hands each command to the libraries.
@main
struct Braid: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Braid: a multi-WAN gateway for Linux (nftables + policy routing).",
        subcommands: [
            Check.self, Plan.self, Apply.self, Down.self, Status.self, Run.self, Drain.self, Undrain.self, Events.self,
            Explain.self, Demo.self, Hooks.self, Import.self,
        ]
    )
}

/// Options every command that reads a config shares.
struct ConfigOptions: ParsableArguments {
    @Option(name: [.short, .customLong("config")], help: "Path of the YAML config.")
    var config: String = "/etc/braid/braid.yaml"
}

/// Where Braid keeps what it must remember between commands.
struct StateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: "Directory for Braid's state file (one per network namespace).")
    var stateDirectory: String = "/run/braid"
}
