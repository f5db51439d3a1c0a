import BraidPlanner
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Installs Braid's hook into each DHCP/PPP client installed on the host, and removes exactly
/// those files again. A client counts as installed when its hook directory exists (Debian's
/// packages ship them: isc-dhcp-client `/etc/dhcp/dhclient-exit-hooks.d`, dhcpcd-base
/// `/usr/lib/dhcpcd/dhcpcd-hooks`, ppp `/etc/ppp/ip-up.d` and `ip-down.d`); Braid never creates a
/// directory, so `remove` after `install` leaves every hook directory as it was.
public struct ClientHookInstaller: Sendable {
    /// `/` on a real host; a scratch directory in tests.
    public var root: String
    /// The `braid` executable the hooks run.
    public var braidPath: String
    /// The state directory the hooks write reports into (the daemon's `--state-dir`).
    public var stateDirectory: String

    public init(root: String = "/", braidPath: String, stateDirectory: String) {
        self.root = root
        self.braidPath = braidPath
        self.stateDirectory = stateDirectory
    }

    /// What `install` did or would do to one file.
    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public enum Action: String, Sendable { case installed, updated, removed }
        public var action: Action
        public var client: ClientLeaseReport.Client
        public var path: String

        public var description: String { "\(action.rawValue) \(path) (\(client.rawValue))" }
    }

    /// The hook locations Braid knows, in the order they are installed. dhcpcd's hook directory is
    /// `/usr/lib/dhcpcd/dhcpcd-hooks` on merged-/usr systems, `/lib/dhcpcd/dhcpcd-hooks` on older ones.
    static let locations: [(client: ClientLeaseReport.Client, directories: [String], name: String, kind: Kind)] = [
        (.dhclient, ["etc/dhcp/dhclient-exit-hooks.d"], "braid", .sourced),
        (.dhcpcd, ["usr/lib/dhcpcd/dhcpcd-hooks", "lib/dhcpcd/dhcpcd-hooks"], "90-braid", .sourced),
        (.pppd, ["etc/ppp/ip-up.d"], "braid", .pppUp),
        (.pppd, ["etc/ppp/ip-down.d"], "braid", .pppDown),
    ]

    enum Kind { case sourced, pppUp, pppDown }

    /// Every place Braid's hook would go on this host, for the clients it has.
    public func files() throws(ClientHookError) -> [ClientHookFile] {
        for (what, value) in [("the braid path", braidPath), ("the state directory", stateDirectory)] {
            guard value.hasPrefix("/"), !value.contains("'"),
                !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { throw .unusablePath(what: what, path: value) }
        }
        return Self.locations.compactMap { location in
            guard let directory = location.directories.first(where: { isDirectory(absolute($0)) }) else { return nil }
            let text: String
            switch location.kind {
            case .sourced:
                text = ClientHookScript.sourced(client: location.client, braid: braidPath, stateDirectory: stateDirectory)
            case .pppUp: text = ClientHookScript.ppp(up: true, braid: braidPath, stateDirectory: stateDirectory)
            case .pppDown: text = ClientHookScript.ppp(up: false, braid: braidPath, stateDirectory: stateDirectory)
            }
            return ClientHookFile(
                client: location.client, relativePath: directory + "/" + location.name,
                mode: location.kind == .sourced ? 0o644 : 0o755, text: text)
        }
    }

    /// Installs every hook, or none: a file of that name that is not Braid's stops the install
    /// before anything is written, and a failed write removes what this call wrote.
    @discardableResult
    public func install() throws(ClientHookError) -> [Change] {
        let files = try files()
        guard !files.isEmpty else { throw .noClientInstalled(looked: Self.locations.flatMap(\.directories).map(absolute)) }
        for file in files {
            let path = absolute(file.relativePath)
            if let existing = read(path), !existing.contains(ClientHookFile.marker) { throw .notBraids(path: path) }
        }
        var changes: [Change] = []
        for file in files {
            let path = absolute(file.relativePath)
            let existed = read(path) != nil
            if let error = write(file.text, to: path, mode: mode_t(file.mode)) {
                for change in changes where change.action == .installed { unlink(change.path) }
                throw .cannotWrite(path: path, reason: error)
            }
            changes.append(Change(action: existed ? .updated : .installed, client: file.client, path: path))
        }
        return changes
    }

    /// Removes the files `install` puts in place, and only those that carry Braid's marker.
    @discardableResult
    public func remove() throws(ClientHookError) -> [Change] {
        var changes: [Change] = []
        for location in Self.locations {
            for directory in location.directories {
                let path = absolute(directory + "/" + location.name)
                guard let text = read(path), text.contains(ClientHookFile.marker) else { continue }
                guard unlink(path) == 0 else { throw .cannotRemove(path: path, reason: String(cString: strerror(errno))) }
                changes.append(Change(action: .removed, client: location.client, path: path))
            }
        }
        return changes
    }

    private func absolute(_ relative: String) -> String {
        root.hasSuffix("/") ? root + relative : root + "/" + relative
    }

    private func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    private func read(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Writes beside the target and renames over it, so a client never sources half a hook.
    private func write(_ text: String, to path: String, mode: mode_t) -> String? {
        let temporary = path + ".braid-new"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8)) else {
            return String(cString: strerror(errno))
        }
        guard chmod(temporary, mode) == 0, rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return reason
        }
        return nil
    }
}

/// Why `braid hooks install` or `remove` changed nothing (or, for a failed write, undid itself).
public enum ClientHookError: Error, Sendable, Equatable, CustomStringConvertible {
    case noClientInstalled(looked: [String])
    case notBraids(path: String)
    case unusablePath(what: String, path: String)
    case cannotWrite(path: String, reason: String)
    case cannotRemove(path: String, reason: String)

    public var description: String {
        switch self {
        case .noClientInstalled(let looked):
            "no supported DHCP or PPP client is installed (looked for \(looked.joined(separator: ", "))); nothing was installed. "
                + "Install isc-dhcp-client, dhcpcd-base or ppp, or set fixed gateways"
        case .notBraids(let path):
            "\(path) exists and is not Braid's hook; nothing was installed (move it aside to let Braid install its own)"
        case .unusablePath(let what, let path):
            "\(what) \"\(path)\" must be an absolute path without quotes or control characters"
        case .cannotWrite(let path, let reason): "cannot write \(path): \(reason); nothing was installed"
        case .cannotRemove(let path, let reason): "cannot remove \(path): \(reason)"
        }
    }
}
