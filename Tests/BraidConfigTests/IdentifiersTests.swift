import BraidConfig
import Testing

/// The name grammars that make WAN and interface names safe to interpolate into nft scripts,
/// ip commands and /proc paths.
@Suite struct IdentifiersTests {
    @Test(arguments: ["isp1", "a", "0wan", "fiber_2", "lte-backup", "abcdefghijklmno"])
    func validWanName(_ name: String) {
        #expect(Identifiers.isValidWanName(name))
    }

    @Test(arguments: [
        "", "Isp1", "ISP", "isp 1", "-isp", "_isp", "isp.1", "isp/1", "isp:1", "isp\"1", "wän",
        "abcdefghijklmnop", "isp\n",
    ])
    func invalidWanName(_ name: String) {
        #expect(!Identifiers.isValidWanName(name))
    }

    @Test(arguments: ["eth0", "enp3s0f1", "wwan0", "ppp0", "eth0.100", "br-lan", "Wan_1", "...", "abcdefghijklmno"])
    func validInterfaceName(_ name: String) {
        #expect(Identifiers.isValidInterfaceName(name))
    }

    @Test(arguments: [
        "", ".", "..", "abcdefghijklmnop", "abcdefghijklmnopq", "eth0/1", "eth 0", "eth0:1", "eth\"0",
        "eth'0", "eth\t0", "ethé", "eth0\n",
    ])
    func invalidInterfaceName(_ name: String) {
        #expect(!Identifiers.isValidInterfaceName(name))
    }

    @Test(arguments: ["main", "local", "default", "balance", "all"])
    func reservedWanNamesAreOtherwiseValid(_ name: String) {
        #expect(Identifiers.reservedWanNames.contains(name))
        #expect(Identifiers.isValidWanName(name))
    }
}
