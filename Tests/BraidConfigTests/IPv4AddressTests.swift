import BraidConfig
import Testing

/// Strict dotted-quad parsing of `IPv4Address`, `IPv4Prefix` and the subnet of an
/// `InterfaceAddress`.
@Suite struct IPv4AddressTests {
    @Test(arguments: [
        ("0.0.0.0", UInt32(0)),
        ("10.0.0.1", 0x0a00_0001),
        ("192.168.1.254", 0xc0a8_01fe),
        ("255.255.255.255", 0xffff_ffff),
        ("100.64.0.1", 0x6440_0001),
    ])
    func validAddressParsesAndPrintsBack(_ text: String, _ value: UInt32) throws {
        let address = try #require(IPv4Address(text))
        #expect(address.value == value)
        #expect(address.description == text)
        #expect(IPv4Address(value) == address)
    }

    @Test(arguments: [
        "", "10.0.0", "10.0.0.1.1", "10..0.1", "10.0.0.", ".10.0.0.1", "10.0.0.300", "256.0.0.1",
        "010.0.0.1", "10.00.0.1", "10.0.0.01", "1000.0.0.1", "-1.0.0.1", "+1.0.0.1", "0x0a.0.0.1",
        " 10.0.0.1", "10.0.0.1 ", "10.0.0.1/24", "١٠.0.0.1", "a.b.c.d",
    ])
    func invalidAddressIsRejected(_ text: String) {
        #expect(IPv4Address(text) == nil)
    }

    @Test(arguments: [
        "0.0.0.0", "0.1.2.3", "127.0.0.1", "127.255.255.254", "224.0.0.1", "239.255.255.250",
        "240.0.0.1", "255.255.255.255",
    ])
    func addressUnusableAsHost(_ text: String) throws {
        #expect(try #require(IPv4Address(text)).isUnusableAsHost)
    }

    @Test(arguments: [
        "1.0.0.1", "10.0.0.1", "100.64.0.1", "126.255.255.254", "128.0.0.1", "192.0.2.1",
        "223.255.255.254",
    ])
    func addressUsableAsHost(_ text: String) throws {
        #expect(try !#require(IPv4Address(text)).isUnusableAsHost)
    }

    @Test func addressesOrderByValue() throws {
        let lower = try #require(IPv4Address("9.255.255.255"))
        let higher = try #require(IPv4Address("10.0.0.0"))
        #expect(lower < higher)
    }

    @Test(arguments: [
        ("10.0.0.0/8", "10.0.0.0", 8),
        ("0.0.0.0/0", "0.0.0.0", 0),
        ("192.168.1.0/24", "192.168.1.0", 24),
        ("192.168.1.1/32", "192.168.1.1", 32),
        ("192.168.1.1", "192.168.1.1", 32),
        ("172.16.0.0/12", "172.16.0.0", 12),
    ])
    func validPrefixParses(_ text: String, _ address: String, _ length: Int) throws {
        let prefix = try #require(IPv4Prefix(text))
        #expect(prefix.address == IPv4Address(address))
        #expect(prefix.length == length)
        #expect(prefix.description == "\(address)/\(length)")
    }

    @Test(arguments: [
        "10.0.0.1/24", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/008", "10.0.0.0/8/8",
        "/8", "10.0.0/8", "010.0.0.0/8", "10.0.0.0/ 8", "0.0.0.1/0",
    ])
    func invalidPrefixIsRejected(_ text: String) {
        #expect(IPv4Prefix(text) == nil)
    }

    @Test func prefixContainsOnlyItsOwnAddresses() throws {
        let prefix = try #require(IPv4Prefix("10.1.0.0/16"))
        #expect(prefix.contains(try #require(IPv4Address("10.1.0.0"))))
        #expect(prefix.contains(try #require(IPv4Address("10.1.255.255"))))
        #expect(!prefix.contains(try #require(IPv4Address("10.2.0.0"))))
        #expect(!prefix.contains(try #require(IPv4Address("10.0.255.255"))))
        let everything = try #require(IPv4Prefix("0.0.0.0/0"))
        #expect(everything.contains(try #require(IPv4Address("203.0.113.9"))))
    }

    @Test(arguments: [
        (0, UInt32(0)), (1, 0x8000_0000), (8, 0xff00_0000), (24, 0xffff_ff00), (31, 0xffff_fffe), (32, 0xffff_ffff),
    ])
    func prefixMaskForLength(_ length: Int, _ mask: UInt32) {
        #expect(IPv4Prefix.mask(length) == mask)
    }

    @Test func prefixFromAddressAndLengthRejectsLengthsOutsideZeroToThirtyTwo() throws {
        let address = try #require(IPv4Address("10.0.0.0"))
        #expect(IPv4Prefix(address: address, length: 33) == nil)
        #expect(IPv4Prefix(address: address, length: -1) == nil)
        #expect(IPv4Prefix(address: address, length: 8)?.description == "10.0.0.0/8")
    }

    @Test(arguments: [
        ("192.168.1.77", 24, "192.168.1.0/24"),
        ("10.20.30.40", 8, "10.0.0.0/8"),
        ("203.0.113.9", 32, "203.0.113.9/32"),
        ("203.0.113.9", 0, "0.0.0.0/0"),
        ("100.64.3.1", 10, "100.64.0.0/10"),
    ])
    func interfaceAddressSubnetClearsHostBits(_ address: String, _ length: Int, _ subnet: String) throws {
        let interfaceAddress = InterfaceAddress(address: try #require(IPv4Address(address)), prefixLength: length)
        #expect(interfaceAddress.subnet.description == subnet)
        #expect(interfaceAddress.description == "\(address)/\(length)")
        #expect(interfaceAddress.subnet.contains(interfaceAddress.address))
    }
}

/// How `KernelLayoutConfig` turns a mark mask into a shift and a number of WAN marks (every
/// value but 0 and all-ones, which marks connections a rule sends to the main table).
@Suite struct KernelLayoutConfigTests {
    @Test(arguments: [
        (UInt32(0x00ff_0000), UInt32(16), 254),
        (0x0000_ff00, 8, 254),
        (0x0000_0003, 0, 2),
        (0x0000_0ff0, 4, 254),
        (0xc000_0000, 30, 2),
        (0x7fff_ffff, 0, Int(Int32.max)),
        (0xffff_ffff, 0, Int(Int32.max)),
    ])
    func markShiftAndCapacity(_ mask: UInt32, _ shift: UInt32, _ capacity: Int) {
        let layout = KernelLayoutConfig(markMask: mask)
        #expect(layout.markShift == shift)
        #expect(layout.markCapacity == capacity)
    }
}
