import BraidConfig
import Testing

/// Strict RFC 4291 parsing and RFC 5952 printing of `IPv6Address`, and the family-neutral
/// `IPAddress` and `IPPrefix` over both families.
@Suite struct IPv6AddressTests {
    @Test(
        arguments: [
            ("::", "::", [0, 0, 0, 0, 0, 0, 0, 0]),
            ("::1", "::1", [0, 0, 0, 0, 0, 0, 0, 1]),
            ("1::", "1::", [1, 0, 0, 0, 0, 0, 0, 0]),
            ("2001:db8::1", "2001:db8::1", [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]),
            ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1", [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]),
            ("fe80::1:2", "fe80::1:2", [0xfe80, 0, 0, 0, 0, 0, 1, 2]),
            ("1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8", [1, 2, 3, 4, 5, 6, 7, 8]),
            ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", [1, 2, 3, 4, 5, 6, 7, 0]),
            ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8", [0, 2, 3, 4, 5, 6, 7, 8]),
            // RFC 5952 4.2.2: a single zero group is not shortened.
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", [0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]),
            // 4.2.3: the longest run is shortened, and of equal runs the first.
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1", [0x2001, 0, 0, 1, 0, 0, 0, 1]),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", [0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]),
            // 5: an IPv4-mapped address keeps its dotted quad, whichever way it was written.
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1", [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]),
            ("::FFFF:c000:0201", "::ffff:192.0.2.1", [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]),
            ("0:0:0:0:0:ffff:0.0.0.0", "::ffff:0.0.0.0", [0, 0, 0, 0, 0, 0xffff, 0, 0]),
            // Other embedded IPv4 forms parse, but print in hex.
            ("64:ff9b::192.0.2.33", "64:ff9b::c000:221", [0x64, 0xff9b, 0, 0, 0, 0, 0xc000, 0x0221]),
            ("1:2:3:4:5:6:10.0.0.1", "1:2:3:4:5:6:a00:1", [1, 2, 3, 4, 5, 6, 0x0a00, 1]),
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                [0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff]
            ),
        ] as [(String, String, [UInt16])])
    func validAddressParsesToGroupsAndPrintsCanonically(_ text: String, _ canonical: String, _ groups: [UInt16]) throws {
        let address = try #require(IPv6Address(text))
        #expect(address.groups == groups)
        #expect(address.description == canonical)
        #expect(IPv6Address(canonical) == address)
        #expect(IPv6Address(groups: groups) == address)
    }

    @Test(arguments: [
        "", ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "::1:2:3:4:5:6:7:8",
        "1::2::3", "1:::2", "::1::", ":1::2", "1::2:", "1:2:3:4:5:6:7:", ":1:2:3:4:5:6:7:8",
        "12345::1", "00001::1", "::00000", "g::1", "2001:db8::-1", "2001:db8::+1", "::0x1",
        "fe80::1%eth0", "fe80::1%1", " ::1", "::1 ", "::1/128", "[::1]",
        "::ffff:192.0.2.01", "::ffff:192.0.2", "::ffff:192.0.2.256", "::192.0.2.1:1", "192.0.2.1::",
        "1:2:3:4:5:6:7:192.0.2.1", "::ffff:1.2.3.4.5", "２００１::1",
    ])
    func invalidAddressIsRejected(_ text: String) {
        #expect(IPv6Address(text) == nil)
    }

    @Test func addressesOrderByValue() throws {
        let lower = try #require(IPv6Address("::ffff:ffff:ffff:ffff"))
        let higher = try #require(IPv6Address("0:0:0:1::"))
        #expect(lower < higher)
        #expect(try #require(IPv6Address("2001:db8::1")) < #require(IPv6Address("2001:db8::2")))
    }

    @Test(arguments: [
        (0, "::"), (1, "8000::"), (16, "ffff::"), (63, "ffff:ffff:ffff:fffe::"), (64, "ffff:ffff:ffff:ffff::"),
        (65, "ffff:ffff:ffff:ffff:8000::"), (127, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"),
        (128, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
    ])
    func maskForLength(_ length: Int, _ mask: String) {
        #expect(IPv6Address.mask(length).description == mask)
    }

    @Test func mappingAnIPv4AddressGivesTheMappedForm() throws {
        let ipv4 = try #require(IPv4Address("203.0.113.9"))
        let mapped = IPv6Address(mapping: ipv4)
        #expect(mapped.description == "::ffff:203.0.113.9")
        #expect(mapped.mappedIPv4 == ipv4)
        #expect(try #require(IPv6Address("64:ff9b::203.0.113.9")).mappedIPv4 == nil)
    }
}

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("10.0.0.1", AddressFamily.ipv4, "10.0.0.1"),
        ("2001:DB8::1", .ipv6, "2001:db8::1"),
        ("::ffff:10.0.0.1", .ipv6, "::ffff:10.0.0.1"),
        ("::", .ipv6, "::"),
    ])
    func textWithAColonIsIPv6(_ text: String, _ family: AddressFamily, _ canonical: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.family == family)
        #expect(address.description == canonical)
        #expect((address.ipv4 != nil) == (family == .ipv4))
        #expect((address.ipv6 != nil) == (family == .ipv6))
    }

    @Test(arguments: ["", "10.0.0.300", "010.0.0.1", "1::2::3", "fe80::1%eth0", "10.0.0.1/32", "::1/128"])
    func invalidAddressOfEitherFamilyIsRejected(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func anIPv4AddressAndItsMappedFormDiffer() throws {
        #expect(try #require(IPAddress("10.0.0.1")) != #require(IPAddress("::ffff:10.0.0.1")))
        #expect(try #require(IPAddress("255.255.255.255")) < #require(IPAddress("::")))
    }

    @Test func familiesKnowTheirAddressWidth() {
        #expect(AddressFamily.ipv4.addressBits == 32)
        #expect(AddressFamily.ipv6.addressBits == 128)
    }
}

@Suite struct IPPrefixTests {
    @Test(arguments: [
        ("10.0.0.0/8", AddressFamily.ipv4, 8, "10.0.0.0/8"),
        ("192.168.1.1", .ipv4, 32, "192.168.1.1/32"),
        ("0.0.0.0/0", .ipv4, 0, "0.0.0.0/0"),
        ("::/0", .ipv6, 0, "::/0"),
        ("2001:db8::/32", .ipv6, 32, "2001:db8::/32"),
        ("2001:0db8:0:0::/64", .ipv6, 64, "2001:db8::/64"),
        ("fe80::/10", .ipv6, 10, "fe80::/10"),
        ("2001:db8::1", .ipv6, 128, "2001:db8::1/128"),
        ("2001:db8::1/128", .ipv6, 128, "2001:db8::1/128"),
        ("::ffff:0:0/96", .ipv6, 96, "::ffff:0.0.0.0/96"),
        ("2001:db8:0:0:8000::/65", .ipv6, 65, "2001:db8:0:0:8000::/65"),
    ])
    func validPrefixParses(_ text: String, _ family: AddressFamily, _ length: Int, _ canonical: String) throws {
        let prefix = try #require(IPPrefix(text))
        #expect(prefix.family == family)
        #expect(prefix.length == length)
        #expect(prefix.description == canonical)
        #expect(IPPrefix(canonical) == prefix)
    }

    @Test(arguments: [
        "2001:db8::1/64", "2001:db8::/129", "::/200", "::/1000", "2001:db8::/032", "2001:db8::/", "2001:db8::/-1",
        "2001:db8::/+32", "2001:db8::/ 32", "2001:db8::/32/32", "/64", "fe80::%eth0/64", "fe80::/10%eth0", "::1/0",
        "2001:db8:0:0:8000::/64", "10.0.0.1/24", "10.0.0.0/33", "10.0.0.0/08",
    ])
    func invalidPrefixIsRejected(_ text: String) {
        #expect(IPPrefix(text) == nil)
    }

    @Test func prefixContainsOnlyItsOwnFamilysAddresses() throws {
        let documentation = try #require(IPPrefix("2001:db8::/32"))
        #expect(documentation.contains(try #require(IPAddress("2001:db8:ffff::1"))))
        #expect(!documentation.contains(try #require(IPAddress("2001:db9::"))))
        let everything = try #require(IPPrefix("::/0"))
        #expect(everything.contains(try #require(IPAddress("::ffff:10.0.0.1"))))
        #expect(!everything.contains(try #require(IPAddress("10.0.0.1"))))
        let ipv4Everything = try #require(IPPrefix("0.0.0.0/0"))
        #expect(!ipv4Everything.contains(try #require(IPAddress("::1"))))
    }

    @Test func ipv4PrefixConvertsBothWays() throws {
        let ipv4 = try #require(IPv4Prefix("172.16.0.0/12"))
        let prefix = IPPrefix(ipv4)
        #expect(prefix.family == .ipv4)
        #expect(prefix.ipv4 == ipv4)
        #expect(try #require(IPPrefix("2001:db8::/32")).ipv4 == nil)
    }

    @Test func lengthMustFitTheFamily() throws {
        let address = try #require(IPAddress("::"))
        #expect(IPPrefix(address: address, length: 128) != nil)
        #expect(IPPrefix(address: address, length: 129) == nil)
        #expect(IPPrefix(address: try #require(IPAddress("0.0.0.0")), length: 33) == nil)
        #expect(IPPrefix(address: address, length: -1) == nil)
    }
}
