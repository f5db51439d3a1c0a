import ArgumentParser

/// `braid check`: validates a config without touching anything.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Validate a config file.")

    @OptionGroup var options: ConfigOptions

    func run() throws {
        _ = try loadConfig(options)
        print("OK")
    }
}
