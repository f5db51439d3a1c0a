import BraidConfig
import Testing

@testable import BraidHealth

#if canImport(Glibc)
import Glibc
#endif

/// The family-neutral parts of the probes: socket addresses of both families and the ICMPv6 echo.
@Suite struct ProbeFamilyTests {
    @Test(arguments: ["192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "fe80::1"])
    func socketAddressHoldsTheAddressOfEitherFamily(_ text: String) throws {
        let address = try #require(IPAddress(text))
        let socketAddress = SocketAddress(address, port: 53)
        let expectedLength = address.family == .ipv4 ? MemoryLayout<sockaddr_in>.size : MemoryLayout<sockaddr_in6>.size
        #expect(Int(socketAddress.length) == expectedLength)
        let (family, port) = socketAddress.withPointer { pointer, _ in
            (
                Int32(pointer.pointee.sa_family),
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            )
        }
        #expect(family == (address.family == .ipv4 ? AF_INET : AF_INET6))
        #expect(port == 53)
    }

    @Test func ipv6EchoRequestHasItsTypeAndLeavesTheChecksumToTheKernel() {
        let request = ICMPEcho.request(family: .ipv6, identifier: 0x1234, sequence: 7)
        #expect(Array(request.prefix(8)) == [128, 0, 0, 0, 0x12, 0x34, 0, 7])
        let ipv4 = ICMPEcho.request(identifier: 0x1234, sequence: 7)
        #expect(ipv4[0] == 8)
        #expect(ICMPEcho.checksum(ipv4) == 0)
    }

    @Test func ipv6EchoReplyIsReadFromTheMessageAndItsSender() throws {
        let sender = try #require(IPAddress("2001:db8::9"))
        let reply: [UInt8] = [129, 0, 0xab, 0xcd, 0x12, 0x34, 0, 7] + Array("braid-hc".utf8)
        let parsed = try #require(ICMPEcho.parseReply(reply, family: .ipv6, sender: sender))
        #expect(parsed.identifier == 0x1234 && parsed.sequence == 7 && parsed.source == sender)
        // An echo request (someone pinging us) and a reply without an IPv6 sender are not replies.
        #expect(ICMPEcho.parseReply([128] + reply.dropFirst(), family: .ipv6, sender: sender) == nil)
        #expect(ICMPEcho.parseReply(reply, family: .ipv6, sender: IPAddress("192.0.2.1")) == nil)
    }

    @Test func ipv4EchoReplyStillComesFromTheIPHeader() throws {
        var datagram: [UInt8] = [0x45, 0, 0, 36, 0, 0, 0, 0, 64, 1, 0, 0, 192, 0, 2, 1, 10, 0, 0, 1]
        datagram += [0, 0, 0, 0, 0x12, 0x34, 0, 7] + Array("braid-hc".utf8)
        let parsed = try #require(ICMPEcho.parseReply(datagram, family: .ipv4, sender: nil))
        #expect(parsed.source == IPAddress("192.0.2.1") && parsed.identifier == 0x1234 && parsed.sequence == 7)
    }

    @Test func ipv6AddressBytesRoundTrip() throws {
        let address = try #require(IPv6Address("2001:db8:1:2:3:4:5:6"))
        #expect(address.bytes == [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6])
        #expect(IPv6Address(bytes: address.bytes) == address)
        #expect(IPv6Address(bytes: [UInt8](repeating: 0, count: 15)) == nil)
    }
}
