import Foundation

/// Which config file the last `braid apply` or `braid run` used (`config-path` in the state
/// directory), so that `braid status` without `-c` reads the config that was applied.
public struct ConfigPathRecord: Sendable {
    public let path: String

    public init(stateDirectory: String) { path = stateDirectory + "/config-path" }

    /// Absolute, so a later command from another directory finds the same file.
    public func save(_ configPath: String) {
        let absolute =
            configPath.hasPrefix("/") ? configPath : FileManager.default.currentDirectoryPath + "/" + configPath
        try? FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: path, contents: Data((absolute + "\n").utf8), attributes: [.posixPermissions: 0o600])
    }

    public func load() -> String? {
        guard let data = FileManager.default.contents(atPath: path), data.count < 8192 else { return nil }
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.hasPrefix("/") ? text : nil
    }
}
