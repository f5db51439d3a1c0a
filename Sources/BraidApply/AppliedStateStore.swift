import BraidKernel
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What Braid must remember between commands that the kernel cannot tell it: the sysctl values
/// from before the first `apply` (so `down` can put them back) and the ruleset it loaded last
/// (so an unchanged re-apply touches nothing).
///
/// It is a cache, never the truth: every apply reads what the kernel holds and converges on it, so
/// a lost, stale or corrupt file costs at most a reload, never a wedge.
public struct AppliedState: Sendable, Equatable, Codable {
    /// Sysctl key → value before Braid first changed it.
    public var originalSysctls: [String: String]
    /// The rendered table Braid loaded last (on disk in a file of its own, `RulesetSourceFile`).
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
    /// Where `rulesetSource` is kept on disk (see `RulesetSourceFile`); set only in the file.
    var rulesetSourceFile: String?

    public init(
        originalSysctls: [String: String] = [:], rulesetSource: String? = nil, rulesetFingerprint: String? = nil,
        objects: [String: [String]]? = nil, setDigests: [String: String]? = nil
    ) {
        self.originalSysctls = originalSysctls
        self.rulesetSource = rulesetSource
        self.rulesetFingerprint = rulesetFingerprint
        self.objects = objects
        self.setDigests = setDigests
    }
}

/// Keeps `AppliedState` in a directory (default /run/braid: it must not outlive the kernel state
/// it describes, and /run is emptied at boot just as the kernel is).
///
/// The file never stands between Braid and the kernel: a file that cannot be written (a full
/// `/run`, `chattr +i`) is reported and the change goes ahead; a corrupt one is moved aside and
/// treated as missing. A long-lived process (the daemon) also keeps the last state in memory, so
/// a deleted state directory does not make it forget the sysctl values from before Braid.
public struct AppliedStateStore: Sendable {
    public static let defaultDirectory = "/run/braid"
    /// Larger than any state Braid writes (the rendered table of 10,000 rules is a few MB).
    static let maximumFileSize = 256 << 20

    public let directory: String
    public var path: String { directory + "/state.json" }
    /// Held by `apply`, `down` and each daemon re-plan while they change the kernel.
    public let changeLock: StateDirectoryLock
    /// Held by a running daemon for its whole life: one daemon per state directory.
    public let daemonLock: StateDirectoryLock
    private let memory = StateMemory()

    public init(directory: String = Self.defaultDirectory) {
        self.directory = directory
        changeLock = StateDirectoryLock(path: directory + "/apply.lock")
        daemonLock = StateDirectoryLock(path: directory + "/daemon.lock")
    }

    /// The last saved state: from the file, or (when the file is missing) what this process saved
    /// last. A file that cannot be decoded is renamed to `state.json.corrupt-TIME` and treated as
    /// missing; `warning` says so.
    public func loadReporting() -> (state: AppliedState?, warning: String?) { loadReporting(retries: 2) }

    private func loadReporting(retries: Int) -> (state: AppliedState?, warning: String?) {
        // The file this process wrote or read last, unchanged since: decoding its megabytes (the
        // rendered table of a large policy) again on every failover would cost more than the change.
        let stamp = PosixFile.stamp(path)
        if let stamp, let known = memory.known, known.stamp == stamp { return (known.state, nil) }
        let bytes: [UInt8]
        switch PosixFile.read(path, limit: Self.maximumFileSize) {
        case .success(let read?): bytes = read
        case .success(nil): return (memory.state, nil)
        case .failure(let error):
            return (memory.state, "cannot read Braid's state file \(path) (\(error.reason)); treating it as missing")
        }
        if var state = try? JSONDecoder().decode(AppliedState.self, from: Data(bytes)) {
            if let name = state.rulesetSourceFile {
                state.rulesetSourceFile = nil
                // Missing (deleted by hand, or swept by a save that replaced this state.json
                // since it was read): the loaded table is unknown, which costs a reload at most.
                state.rulesetSource = RulesetSourceFile.read(named: name, in: directory, limit: Self.maximumFileSize)
                if state.rulesetSource == nil, PosixFile.stamp(path) != stamp, retries > 0 {
                    return loadReporting(retries: retries - 1)
                }
            }
            memory.state = state
            // Only a stamp taken before the read vouches for what was read.
            if let stamp, PosixFile.stamp(path) == stamp { memory.known = (stamp, state) }
            return (state, nil)
        }
        let aside = path + ".corrupt-\(Int(Date().timeIntervalSince1970))"
        let moved = rename(path, aside) == 0
        return (
            memory.state,
            "Braid's state file \(path) is not valid; "
                + (moved ? "moved it to \(aside) and" : "could not move it aside (\(PosixError.current().reason));")
                + " treating it as missing (Braid reads what is installed instead)"
        )
    }

    /// The last saved state, or nil; see `loadReporting`.
    public func load() -> AppliedState? { loadReporting().state }

    /// Writes `state` (mode 0600, in a 0700 directory created if missing). The in-memory copy is
    /// updated first, so a failed write still leaves this process knowing what it did.
    public func save(_ state: AppliedState) throws(StateFileError) {
        memory.state = state
        memory.known = nil
        if case .failure(let error) = PosixFile.createDirectory(directory) {
            throw .cannotWrite(path: path, reason: "cannot create \(directory): \(error.reason)")
        }
        var onDisk = state
        if let source = state.rulesetSource {
            let name: String
            if let written = memory.rulesetFile, written.source.isSameText(as: source),
                PosixFile.stamp(directory + "/" + written.name) != nil
            {
                name = written.name
            } else {
                name = RulesetSourceFile.newName()
                if case .failure(let error) = RulesetSourceFile.write(source, named: name, in: directory) {
                    // Said as state.json's failure (it cannot be written without this file), with
                    // no fresh file name in it: a directory that stays unwritable gives the same
                    // warning from every save, and the daemon says it once.
                    throw .cannotWrite(path: path, reason: error.reason)
                }
                memory.rulesetFile = (name, source)
            }
            onDisk.rulesetSource = nil
            onDisk.rulesetSourceFile = name
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(onDisk) else { throw .cannotWrite(path: path, reason: "cannot encode the state") }
        // Write then rename, so a crash never leaves half a file where the originals were.
        if case .failure(let error) = PosixFile.replace(path, with: Array(data), mode: 0o600) {
            throw .cannotWrite(path: path, reason: error.reason)
        }
        if let stamp = PosixFile.stamp(path) { memory.known = (stamp, state) }
        RulesetSourceFile.sweep(directory, keeping: onDisk.rulesetSourceFile)
    }

    /// Forgets the state (after `down`).
    public func remove() throws(StateFileError) {
        memory.state = nil
        memory.known = nil
        if unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR {
            throw .cannotRemove(path: path, reason: PosixError.current().reason)
        }
        RulesetSourceFile.sweep(directory, keeping: nil)
        memory.rulesetFile = nil
    }
}

/// The state a process saved last, shared by every copy of its store, and the version of the file
/// that holds it (so an unchanged file is not decoded again).
final class StateMemory: Sendable {
    private let box = Mutex<AppliedState?>(nil)
    private let file = Mutex<(stamp: FileStamp, state: AppliedState)?>(nil)
    private let written = Mutex<(name: String, source: String)?>(nil)

    var state: AppliedState? {
        get { box.withLock { $0 } }
        set { box.withLock { $0 = newValue } }
    }

    var known: (stamp: FileStamp, state: AppliedState)? {
        get { file.withLock { $0 } }
        set { file.withLock { $0 = newValue } }
    }

    /// The ruleset file this process wrote last, and what it holds: an unchanged table is not
    /// written again.
    var rulesetFile: (name: String, source: String)? {
        get { written.withLock { $0 } }
        set { written.withLock { $0 = newValue } }
    }
}

/// The state file could not be written or removed. Never fatal to a kernel change: the change
/// stands, and this is reported next to it.
public enum StateFileError: Error, Sendable, Equatable, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)
    case cannotRemove(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let reason):
            "cannot write Braid's state file \(path): \(reason) (the kernel change itself stands; "
                + "until the file can be written, `braid down` may not restore the sysctls' earlier values)"
        case .cannotRemove(let path, let reason):
            "cannot remove Braid's state file \(path): \(reason)"
        }
    }
}
