import ArgumentParser
import BraidApply
import BraidConfig
import BraidDaemon
import Foundation

/// The config of the running daemon: `-c` when given, else the one the daemon runs (its status
/// socket says which), else the one the last `apply` used, else the default path.
func runningConfig(explicit: String?, state: StateOptions) throws -> Config {
    let daemon = StatusSocketServer.read(path: GatewayDaemon.statusSocketPath(stateDirectory: state.stateDirectory))
    let path =
        explicit ?? daemon?.configPath ?? ConfigPathRecord(stateDirectory: state.stateDirectory).load()
        ?? ConfigLoader.defaultPath
    return try loadConfig(path: path)
}

/// `braid drain NAME`: the WAN takes no new connections; its open connections stay.
struct Drain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop sending new connections to a WAN (open ones stay); kept across daemon restarts.")
    @Argument(help: "The WAN's name.") var name: String
    @Option(name: [.short, .customLong("config")], help: "Path of the YAML config (default: the running daemon's).")
    var config: String?
    @OptionGroup var state: StateOptions

    func run() throws { try sendDrain(name, drain: true, config: config, state: state) }
}

/// `braid undrain NAME`: the WAN takes new connections again.
struct Undrain: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Let a drained WAN take new connections again.")
    @Argument(help: "The WAN's name.") var name: String
    @Option(name: [.short, .customLong("config")], help: "Path of the YAML config (default: the running daemon's).")
    var config: String?
    @OptionGroup var state: StateOptions

    func run() throws { try sendDrain(name, drain: false, config: config, state: state) }
}

func sendDrain(_ name: String, drain: Bool, config path: String?, state: StateOptions) throws {
    let config = try runningConfig(explicit: path, state: state)
    guard
        let escaped = name.addingPercentEncoding(
            withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/")))
    else { throw ExitStatus.invalidInput }
    do {
        let client = try DaemonClient(config: config)
        let answer = try client.request("POST", "/api/v1/wans/\(escaped)/\(drain ? "drain" : "undrain")")
        let message = (try? JSONDecoder().decode([String: String].self, from: Data(answer.body.utf8)))?["message"] ?? answer.body
        guard answer.status == 200 else {
            printError(message)
            throw answer.status == 404 ? ExitStatus.invalidInput : ExitStatus.kernelFailure
        }
        print(message)
    } catch let failure as DaemonClient.Failure {
        printError(failure.description)
        throw ExitStatus.kernelFailure
    }
}

/// `braid events [--follow]`: the daemon's recent events, one a line, newest last.
struct Events: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the daemon's recent events (state changes, applies, drains …).")
    @Flag(help: "Keep printing new events as they happen.") var follow = false
    @Flag(help: "Print each event as a JSON line.") var json = false
    @Option(name: [.short, .customLong("config")], help: "Path of the YAML config (default: the running daemon's).")
    var config: String?
    @OptionGroup var state: StateOptions

    func run() throws {
        let config = try runningConfig(explicit: self.config, state: state)
        do {
            let client = try DaemonClient(config: config)
            let answer = try client.request("GET", "/api/v1/events")
            guard answer.status == 200 else {
                printError("the daemon answered \(answer.status): \(answer.body)")
                throw ExitStatus.kernelFailure
            }
            let events = (try? GatewayEventRecord.decoder.decode([GatewayEventRecord].self, from: Data(answer.body.utf8))) ?? []
            for event in events { print(line(event)) }
            guard follow else { return }
            try client.stream("/api/v1/events/stream") { data in
                if let event = try? GatewayEventRecord.decoder.decode(GatewayEventRecord.self, from: Data(data.utf8)) {
                    print(line(event))
                    fflush(nil)
                }
            }
        } catch let failure as DaemonClient.Failure {
            printError(failure.description)
            throw ExitStatus.kernelFailure
        }
    }

    func line(_ event: GatewayEventRecord) -> String {
        if json { return event.jsonLine }
        var parts = [GatewayEventRecord.timeText(event.time), "#\(event.id)", event.kind.rawValue]
        if let wan = event.wan { parts.append(wan) }
        if let from = event.from, let to = event.to { parts.append("\(from) → \(to)") }
        parts.append(event.reason)
        if let detection = event.detectionSeconds { parts.append(String(format: "(detected in %.2f s)", detection)) }
        return parts.joined(separator: "  ")
    }
}
