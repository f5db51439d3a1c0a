import Foundation

/// What Braid must remember between commands that the kernel cannot tell it: the sysctl values
/// from before the first `apply` (so `down` can put them back) and the ruleset it loaded last
/// (so an unchanged re-apply touches nothing).
public struct AppliedState: Sendable, Equatable, Codable {
    /// Sysctl key → value before Braid first changed it.
    public var originalSysctls: [String: String]
    /// The rendered table Braid loaded last.
    public var rulesetSource: String?
    /// The table's fingerprint right after that load; a difference means someone changed it.
    public var rulesetFingerprint: String?
    /// The objects that load created, by kind ("set", "map", "counter").
    public var objects: [String: [String]]?
    /// Set name → digest of its elements, so an unchanged set is not reloaded.
    public var setDigests: [String: String]?
    /// WANs the last apply treated as unusable by health, so a restarted daemon starts from there.
    public var unavailableWans: [String]?
    /// WAN name → slot (mark, table, rule) the last apply gave it; see `WanSlotAssignment`.
    public var wanSlots: [String: Int]?
    /// The nftables generation after the last apply: unchanged means no one touched nftables since.
    public var rulesetGeneration: UInt64?
    /// Digest of the table's full listing as verified by an apply that loaded nothing; nil right
    /// after a load.
    public var tableDigest: String?

    public init(originalSysctls: [String: String] = [:], rulesetSource: String? = nil, rulesetFingerprint: String? = nil,
                objects: [String: [String]]? = nil, setDigests: [String: String]? = nil) {
        self.originalSysctls = originalSysctls
        self.rulesetSource = rulesetSource
        self.rulesetFingerprint = rulesetFingerprint
        self.objects = objects
        self.setDigests = setDigests
    }
}

/// Keeps `AppliedState` in a directory (default /run/braid: it must not outlive the kernel state
/// it describes, and /run is emptied at boot just as the kernel is).
public struct AppliedStateStore: Sendable {
    public static let defaultDirectory = "/run/braid"

    public let directory: String
    var path: String { directory + "/state.json" }

    public init(directory: String = Self.defaultDirectory) {
        self.directory = directory
    }

    public func load() throws(KernelError) -> AppliedState? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(AppliedState.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw .notPermitted("cannot read Braid's state file \(path): \(error); remove it only if Braid is not installed")
        }
    }

    public func save(_ state: AppliedState) throws(KernelError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            // Write then rename, so a crash never leaves half a file where the originals were.
            let temporary = path + ".new"
            try encoder.encode(state).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            throw .notPermitted("cannot write Braid's state file \(path): \(error)")
        }
    }

    public func remove() throws(KernelError) {
        guard FileManager.default.fileExists(atPath: path) else { return }
        do { try FileManager.default.removeItem(atPath: path) } catch {
            throw .notPermitted("cannot remove Braid's state file \(path): \(error)")
        }
    }
}
