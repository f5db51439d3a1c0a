import Foundation

/// The WANs an operator drained (`braid drain`, `POST /api/v1/wans/NAME/drain`), kept in
/// `drained.json` in the state directory so that a drain survives a daemon restart. A drained
/// WAN takes no new connections; its open connections stay (nothing is flushed).
public struct DrainedWans: Sendable {
    public let path: String

    public init(stateDirectory: String) { path = stateDirectory + "/drained.json" }

    /// The drained WAN names; empty when the file is missing or unreadable.
    public func load() -> Set<String> {
        guard let data = FileManager.default.contents(atPath: path),
            let names = try? JSONDecoder().decode([String].self, from: data)
        else { return [] }
        return Set(names)
    }

    /// Writes the set atomically (a temporary file renamed over the old one).
    public func save(_ names: Set<String>) throws {
        let data = try JSONEncoder().encode(names.sorted())
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw DrainRecordError(reason: "cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            throw DrainRecordError(reason: "cannot replace \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// The drain record could not be written: the drain holds until the daemon stops, not across a restart.
public struct DrainRecordError: Error, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
