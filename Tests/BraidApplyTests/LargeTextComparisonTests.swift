import Testing

@testable import BraidApply

/// `isSameText`: byte equality, which the applier's "is this the table Braid loaded" questions use.
@Suite struct LargeTextComparisonTests {
    @Test func textsAreTheSameExactlyWhenTheirBytesAre() {
        let table = String(repeating: "add rule inet braid traffic_rules ct mark set 0x1 comment \"a — b\"\n", count: 2_000)
        #expect(table.isSameText(as: String(decoding: Array(table.utf8), as: UTF8.self)))
        #expect(table.isSameText(as: table + ""))
        #expect(!table.isSameText(as: table + "\n"))
        var changed = Array(table.utf8)
        changed[changed.count / 2] ^= 1
        #expect(!table.isSameText(as: String(decoding: changed, as: UTF8.self)))
        #expect("".isSameText(as: ""))
        // Canonically equivalent but spelled differently ("é" precomposed and decomposed): `==` says
        // equal, the bytes do not.
        #expect("caf\u{E9}" == "cafe\u{301}" && !"caf\u{E9}".isSameText(as: "cafe\u{301}"))
        let missing: String? = nil
        #expect(missing.isSameText(as: nil) && !missing.isSameText(as: "") && !Optional("x").isSameText(as: nil))
    }
}
