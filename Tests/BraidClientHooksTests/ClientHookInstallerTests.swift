import BraidClientHooks
import Foundation
import Testing

/// `braid hooks install` writes one hook per installed client and `remove` deletes exactly those
/// files, leaving every hook directory as it was.
@Suite struct ClientHookInstallerTests {
    /// A scratch root with the hook directories Debian's packages ship, one foreign hook in each.
    static func root(
        clients: [String] = [
            "etc/dhcp/dhclient-exit-hooks.d", "usr/lib/dhcpcd/dhcpcd-hooks", "etc/ppp/ip-up.d", "etc/ppp/ip-down.d",
        ]
    )
        throws -> String
    {
        let root = NSTemporaryDirectory() + "braid-hooks-\(UUID().uuidString)"
        for directory in clients {
            try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
            try "# someone else's\n".write(toFile: "\(root)/\(directory)/50-other", atomically: true, encoding: .utf8)
        }
        return root
    }

    /// Every path below `root` with its mode and contents.
    static func listing(_ root: String) throws -> [String: String] {
        var result: [String: String] = [:]
        let enumerator = try #require(FileManager.default.enumerator(atPath: root))
        for case let path as String in enumerator {
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(root)/\(path)")
            let contents =
                FileManager.default.contents(atPath: "\(root)/\(path)").map { String(decoding: $0, as: UTF8.self) } ?? "dir"
            result[path] = "\(attributes[.posixPermissions] ?? 0) \(contents)"
        }
        return result
    }

    @Test func installThenRemoveLeavesTheDirectoriesAsTheyWere() throws {
        let root = try Self.root()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let before = try Self.listing(root)
        let installer = ClientHookInstaller(root: root, braidPath: "/usr/sbin/braid", stateDirectory: "/run/braid")
        let installed = try installer.install()
        #expect(
            installed.map(\.path) == [
                "\(root)/etc/dhcp/dhclient-exit-hooks.d/braid", "\(root)/usr/lib/dhcpcd/dhcpcd-hooks/90-braid",
                "\(root)/etc/ppp/ip-up.d/braid", "\(root)/etc/ppp/ip-down.d/braid",
            ])
        #expect(installed.allSatisfy { $0.action == .installed })
        #expect(try installer.install().allSatisfy { $0.action == .updated }, "installing again updates in place")
        let removed = try installer.remove()
        #expect(removed.map(\.path) == installed.map(\.path))
        #expect(try Self.listing(root) == before)
    }

    @Test func onlyInstalledClientsGetAHook() throws {
        let root = try Self.root(clients: ["etc/dhcp/dhclient-exit-hooks.d"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let installed = try ClientHookInstaller(root: root, braidPath: "/usr/sbin/braid", stateDirectory: "/run/braid").install()
        #expect(installed.map(\.client) == [.dhclient])
    }

    @Test func noClientInstalledSaysSoAndChangesNothing() throws {
        let root = try Self.root(clients: [])
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let before = try Self.listing(root)
        let error = #expect(throws: ClientHookError.self) {
            try ClientHookInstaller(root: root, braidPath: "/usr/sbin/braid", stateDirectory: "/run/braid").install()
        }
        #expect(error?.description.contains("no supported DHCP or PPP client") == true)
        #expect(try Self.listing(root) == before)
    }

    @Test func aForeignFileOfTheSameNameStopsTheInstallBeforeAnyWrite() throws {
        let root = try Self.root()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "# the admin's own\n".write(toFile: "\(root)/etc/ppp/ip-down.d/braid", atomically: true, encoding: .utf8)
        let before = try Self.listing(root)
        let installer = ClientHookInstaller(root: root, braidPath: "/usr/sbin/braid", stateDirectory: "/run/braid")
        #expect(throws: ClientHookError.notBraids(path: "\(root)/etc/ppp/ip-down.d/braid")) { try installer.install() }
        #expect(try Self.listing(root) == before)
        #expect(try installer.remove().isEmpty, "remove leaves a file that is not Braid's")
        #expect(try Self.listing(root) == before)
    }

    @Test func aQuoteInAPathIsRefused() {
        #expect(throws: ClientHookError.self) {
            try ClientHookInstaller(root: "/nonexistent", braidPath: "/usr/sbin/bra'id", stateDirectory: "/run/braid").files()
        }
    }
}
