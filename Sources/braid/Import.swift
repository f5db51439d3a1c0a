import ArgumentParser
import BraidConfig
import BraidImport
import Foundation

/// `braid import`: converts another multi-WAN tool's configuration into a Braid config.
struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert another tool's multi-WAN config into a Braid config.", subcommands: [ImportMwan3.self])
}

/// `braid import mwan3 FILE [--network FILE] [-o FILE]`: the YAML on stdout (or in FILE), and on
/// stderr a note for every option that could not be carried over as it was. Exit 0 when a config
/// was written, 2 when a file cannot be read or parsed (the message names the line).
struct ImportMwan3: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mwan3", abstract: "Convert /etc/config/mwan3 (and optionally /etc/config/network) to Braid's YAML.")

    @Argument(help: "The mwan3 UCI file, usually /etc/config/mwan3.")
    var file: String

    @Option(name: .customLong("network"), help: "OpenWrt's network UCI file: devices, gateways and the LAN interface.")
    var network: String?

    @Option(name: [.short, .customLong("output")], help: "Write the config here instead of stdout.")
    var output: String?

    func run() throws {
        let mwan3Text = try readInput(file)
        let networkText = try network.map(readInput)
        let result: Mwan3Import
        do {
            result = try Mwan3Importer.convert(mwan3: mwan3Text, file: file, network: networkText, networkFile: network)
        } catch {
            printError(error.description)
            throw ExitStatus.invalidInput
        }
        if let output {
            do {
                try Data(result.yaml.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                printError("cannot write \(output): \(error.localizedDescription)")
                throw ExitStatus.invalidInput
            }
        } else {
            FileHandle.standardOutput.write(Data(result.yaml.utf8))
        }
        for note in result.notes { FileHandle.standardError.write(Data("note: \(note)\n".utf8)) }
        // The converter writes what `braid check` accepts; say so loudly if a case slipped through.
        let base = output.map { ($0 as NSString).deletingLastPathComponent } ?? FileManager.default.currentDirectoryPath
        do {
            _ = try ConfigLoader.parse(result.yaml, baseDirectory: base.isEmpty ? "." : base)
        } catch {
            printWarning("the converted config does not pass `braid check`; fix it by hand:\n\(error.description)")
        }
    }

    private func readInput(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            printError("cannot read \(path)")
            throw ExitStatus.invalidInput
        }
        guard let text = String(data: data, encoding: .utf8) else {
            printError("\(path) is not UTF-8 text")
            throw ExitStatus.invalidInput
        }
        return text
    }
}
