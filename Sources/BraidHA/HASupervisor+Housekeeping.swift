import BraidConfig
import BraidKernel
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's dealings with processes and the host outside its own children: programs a
/// killed Braid left running, the sync link's address, conntrackd's statistics text.
extension HASupervisor {
    /// A keepalived or conntrackd from a Braid that was killed (SIGKILL) still runs: stop it, or the
    /// new one finds its pid file or lock and refuses to start.
    func stopStaleChildren() {
        stopStale(pidFile: paths.keepalivedPid, marker: paths.keepalivedConfig)
        for pid in Self.processes(mentioning: paths.conntrackdConfig) { Self.terminate(pid) }
    }

    func stopStale(pidFile: String, marker: String) {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
            Self.commandLine(pid).contains(marker)
        else { return }
        Self.terminate(pid)
    }

    static func terminate(_ pid: Int32) {
        kill(pid, SIGTERM)
        for _ in 0..<100 where kill(pid, 0) == 0 && !commandLine(pid).isEmpty { Thread.sleep(forTimeInterval: 0.02) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    static func commandLine(_ pid: Int32) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
        return String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }

    /// Processes whose command line names `marker` (this gateway's own config path).
    static func processes(mentioning marker: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { $0 != getpid() && commandLine($0).contains(marker) }
    }

    /// The first IPv4 address on `interface`, read with `ip -4 -o address show dev`.
    static func syncAddress(_ interface: String) -> IPv4Address? {
        guard let result = try? ProcessCommandRunner().run(["ip", "-4", "-o", "address", "show", "dev", interface]),
            result.status == 0
        else { return nil }
        for word in result.standardOutput.split(whereSeparator: { $0 == " " || $0 == "\n" }) where word.contains("/") {
            if let address = IPv4Address(word.split(separator: "/")[0]) { return address }
        }
        return nil
    }

    public static func cacheCounts(_ text: String) -> (internal: Int?, external: Int?) {
        var section = ""
        var internalCount: Int?
        var externalCount: Int?
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("cache internal") {
                section = "internal"
            } else if trimmed.hasPrefix("cache external") {
                section = "external"
            } else if trimmed.hasPrefix("cache") || trimmed.hasPrefix("traffic") || trimmed.hasPrefix("UDP") {
                section = ""
            }
            if trimmed.hasPrefix("current active connections:"),
                let value = Int(trimmed.dropFirst("current active connections:".count).trimmingCharacters(in: .whitespaces))
            {
                if section == "internal" { internalCount = value } else if section == "external" { externalCount = value }
            }
        }
        return (internalCount, externalCount)
    }
}
