import BraidPlanner
import Foundation

extension LinuxKernel {
    /// Lists the other IPv4-relevant nft tables one by one rather than `nft list ruleset`, which
    /// would also print every element of Braid's own sets (slow with 100,000 of them). The tables
    /// are found from `nft list chains`: nft 1.0.6 answers `list tables` only after reading every
    /// set's elements too (0.6 s with a 100,000-prefix set in Braid's table), `list chains` without
    /// them, and a table without chains hooks nothing. Legacy iptables has hooks of its own that
    /// nft cannot see; `iptables-legacy-save` shows them when the tool is installed (it only reads
    /// tables already loaded).
    public func readForeignRuleset() throws(KernelError) -> ForeignRuleset {
        let chainsOutput = try runner.check(["nft", "-j", "list", "chains"])
        var objects: [Any] = []
        var tables: [(family: String, name: String)] = []
        for chain in try Self.nftObjects(chainsOutput, command: "nft -j list chains") {
            guard let chain = chain["chain"] as? [String: Any], let family = chain["family"] as? String,
                let name = chain["table"] as? String, !tables.contains(where: { $0 == (family, name) })
            else { continue }
            tables.append((family, name))
        }
        for (family, name) in tables {
            guard ["ip", "inet"].contains(family), !(family == RoutingLayout.tableFamily && name == RoutingLayout.tableName)
            else { continue }
            let arguments = ["nft", "-j", "list", "table", family, name]
            let result = try runner.run(arguments)
            // A table deleted between the two listings is simply gone.
            guard result.status == 0 else { continue }
            objects += try Self.nftObjects(result.standardOutput, command: arguments.joined(separator: " "))
        }
        let json: String
        do { json = String(decoding: try JSONSerialization.data(withJSONObject: ["nftables": objects]), as: UTF8.self) } catch {
            throw .unexpectedOutput(command: "nft -j list table", detail: "\(error)")
        }
        var legacy: String?
        let installed = ProcessCommandRunner.searchPath.contains {
            FileManager.default.isExecutableFile(atPath: "\($0)/iptables-legacy-save")
        }
        // Without the ip_tables module no namespace has legacy tables (the file exists in every
        // namespace once it is loaded), and iptables-legacy-save would only complain.
        if installed, FileManager.default.fileExists(atPath: Self.legacyTableNames) {
            legacy = try runner.check(["iptables-legacy-save"])
        }
        return ForeignRuleset(nftJSON: json, iptablesLegacySave: legacy)
    }

    static let legacyTableNames = "/proc/net/ip_tables_names"

    static func nftObjects(_ text: String, command: String) throws(KernelError) -> [[String: Any]] {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return [] }
        do {
            guard
                let objects = (try JSONSerialization.jsonObject(with: Data(trimmed.utf8)) as? [String: Any])?["nftables"]
                    as? [[String: Any]]
            else {
                throw KernelError.unexpectedOutput(command: command, detail: "no nftables array")
            }
            return objects
        } catch let error as KernelError {
            throw error
        } catch {
            throw .unexpectedOutput(command: command, detail: "\(error)")
        }
    }
}
