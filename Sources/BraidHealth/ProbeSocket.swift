import BraidConfig
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Opening sockets that leave through one WAN whatever the main table says: SO_MARK selects the
/// WAN's routing table through Braid's fwmark rule, and SO_BINDTODEVICE pins the interface (on its
/// own it would make the kernel ARP for off-link targets when main has no route that way). Each
/// socket is of its target's family; the config allows only IPv4 targets today.
enum ProbeSocket {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A socket of `family` marked for the WAN's table and bound to its interface.
    static func open(family: AddressFamily, type: Int32, protocol: Int32, interface: String, mark: UInt32) throws -> Int32 {
        let domain = family == .ipv4 ? AF_INET : AF_INET6
        let descriptor = socket(domain, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), `protocol`)
        guard descriptor >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        var markValue = mark
        guard setsockopt(descriptor, SOL_SOCKET, SO_MARK, &markValue, socklen_t(MemoryLayout<UInt32>.size)) == 0 else {
            let message = String(cString: strerror(errno))
            close(descriptor)
            throw Failure(description: "SO_MARK: \(message) (needs CAP_NET_ADMIN)")
        }
        let bound = interface.withCString { name in
            setsockopt(descriptor, SOL_SOCKET, SO_BINDTODEVICE, name, socklen_t(strlen(name) + 1))
        }
        guard bound == 0 else {
            let message = String(cString: strerror(errno))
            close(descriptor)
            throw Failure(description: "SO_BINDTODEVICE \(interface): \(message)")
        }
        return descriptor
    }

    /// The raw socket that echo requests of `family` go out on and replies come back to.
    static func openICMP(family: AddressFamily, interface: String, mark: UInt32) throws -> Int32 {
        switch family {
        case .ipv4:
            return try open(
                family: .ipv4, type: Int32(SOCK_RAW.rawValue), protocol: Int32(IPPROTO_ICMP), interface: interface, mark: mark)
        case .ipv6:
            let descriptor = try open(
                family: .ipv6, type: Int32(SOCK_RAW.rawValue), protocol: Int32(IPPROTO_ICMPV6), interface: interface,
                mark: mark)
            // A raw ICMPv6 socket gets every ICMPv6 message (neighbour discovery, router
            // advertisements): let only echo replies through. ICMP6_FILTER (1) is a 256-bit map
            // of blocked types.
            var filter = [UInt32](repeating: .max, count: 8)
            filter[Int(ICMPEcho.ipv6Reply) >> 5] &= ~(1 << (UInt32(ICMPEcho.ipv6Reply) & 31))
            let filtered = filter.withUnsafeBytes {
                setsockopt(descriptor, Int32(IPPROTO_ICMPV6), 1, $0.baseAddress, socklen_t($0.count))
            }
            guard filtered == 0 else {
                let message = String(cString: strerror(errno))
                close(descriptor)
                throw Failure(description: "ICMP6_FILTER: \(message)")
            }
            return descriptor
        }
    }

    /// The interface's current index, 0 when it does not exist.
    static func interfaceIndex(_ name: String) -> UInt32 {
        if_nametoindex(name)
    }

    /// A send error that says the socket's bound device is gone or down (deleted, re-created with
    /// a new index): a socket opened afresh, bound by name again, may work where this one cannot.
    static func meansDeviceGone(_ error: Int32) -> Bool {
        error == ENODEV || error == ENXIO || error == ENETDOWN
    }

    /// Starts a non-blocking connect; true when it completed at once.
    static func connect(_ descriptor: Int32, to address: IPAddress, port: UInt16) throws -> Bool {
        let result = SocketAddress(address, port: port).withPointer { Glibc.connect(descriptor, $0, $1) }
        if result == 0 { return true }
        guard errno == EINPROGRESS else { throw Failure(description: "connect: \(String(cString: strerror(errno)))") }
        return false
    }

    static func pendingError(_ descriptor: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    static func send(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    static func sendTo(_ descriptor: Int32, _ bytes: [UInt8], _ address: IPAddress) -> Bool {
        SocketAddress(address, port: 0).withPointer { target, length in
            bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, 0, target, length) }
        } == bytes.count
    }

    /// One datagram and the address it came from.
    static func receiveFrom(_ descriptor: Int32, capacity: Int = 2048) -> (bytes: [UInt8], sender: IPAddress?)? {
        var buffer = [UInt8](repeating: 0, count: capacity)
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let count = buffer.withUnsafeMutableBytes { bytes in
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(descriptor, bytes.baseAddress, bytes.count, 0, $0, &length)
                }
            }
        }
        guard count > 0 else { return nil }
        return (Array(buffer[..<count]), SocketAddress.address(of: storage))
    }

    static func receive(_ descriptor: Int32, capacity: Int = 2048) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: capacity)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Array(buffer[..<count])
    }
}

/// A `sockaddr_in` or `sockaddr_in6` for one address and port, as the socket calls take them.
struct SocketAddress {
    private var storage = sockaddr_storage()
    let length: socklen_t

    init(_ address: IPAddress, port: UInt16) {
        switch address {
        case .v4(let address):
            var value = sockaddr_in()
            value.sin_family = sa_family_t(AF_INET)
            value.sin_port = port.bigEndian
            value.sin_addr.s_addr = address.value.bigEndian
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: value, as: sockaddr_in.self) }
        case .v6(let address):
            var value = sockaddr_in6()
            value.sin6_family = sa_family_t(AF_INET6)
            value.sin6_port = port.bigEndian
            withUnsafeMutableBytes(of: &value.sin6_addr) { $0.copyBytes(from: address.bytes) }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: value, as: sockaddr_in6.self) }
        }
    }

    func withPointer<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> Result) -> Result {
        withUnsafePointer(to: storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) } }
    }

    /// The address in a `sockaddr_storage` the kernel filled, if it is IPv4 or IPv6.
    static func address(of storage: sockaddr_storage) -> IPAddress? {
        withUnsafeBytes(of: storage) { bytes in
            switch Int32(storage.ss_family) {
            case AF_INET: .v4(IPv4Address(UInt32(bigEndian: bytes.load(as: sockaddr_in.self).sin_addr.s_addr)))
            case AF_INET6:
                withUnsafeBytes(of: bytes.load(as: sockaddr_in6.self).sin6_addr) { IPv6Address(bytes: $0).map(IPAddress.v6) }
            default: nil
            }
        }
    }
}

/// ICMP echo requests and replies (RFC 792), and their ICMPv6 twins (RFC 4443): the same
/// identifier, sequence and payload, with other type numbers.
enum ICMPEcho {
    static let ipv6Request: UInt8 = 128
    static let ipv6Reply: UInt8 = 129

    /// The echo request. For IPv6 the checksum stays zero: it covers a pseudo-header with the
    /// source address, which only the kernel knows, and the kernel fills it in on raw ICMPv6 sockets.
    static func request(family: AddressFamily = .ipv4, identifier: UInt16, sequence: UInt16) -> [UInt8] {
        let type: UInt8 = family == .ipv4 ? 8 : ipv6Request
        var packet: [UInt8] = [
            type, 0, 0, 0, UInt8(identifier >> 8), UInt8(identifier & 0xff), UInt8(sequence >> 8), UInt8(sequence & 0xff),
        ]
        packet += Array("braid-hc".utf8)
        guard family == .ipv4 else { return packet }
        let sum = checksum(packet)
        packet[2] = UInt8(sum >> 8)
        packet[3] = UInt8(sum & 0xff)
        return packet
    }

    /// The (identifier, sequence, source) of an echo reply, or nil. An IPv4 raw socket hands over
    /// the whole datagram, header and all, and the source is read from it; an ICMPv6 one only the
    /// message, and the source is the sender `recvfrom` reported.
    static func parseReply(
        _ datagram: [UInt8], family: AddressFamily, sender: IPAddress?
    ) -> (identifier: UInt16, sequence: UInt16, source: IPAddress)? {
        switch family {
        case .ipv4:
            return parseReply(datagram).map { ($0.identifier, $0.sequence, .v4($0.source)) }
        case .ipv6:
            guard datagram.count >= 8, datagram[0] == ipv6Reply, let sender, sender.family == .ipv6 else { return nil }
            return (UInt16(datagram[4]) << 8 | UInt16(datagram[5]), UInt16(datagram[6]) << 8 | UInt16(datagram[7]), sender)
        }
    }

    /// The (identifier, sequence, source) of an echo reply in a raw IPv4 datagram, or nil.
    static func parseReply(_ datagram: [UInt8]) -> (identifier: UInt16, sequence: UInt16, source: IPv4Address)? {
        guard datagram.count >= 20 else { return nil }
        let headerLength = Int(datagram[0] & 0x0f) * 4
        guard datagram.count >= headerLength + 8, datagram[headerLength] == 0 else { return nil }
        let source = IPv4Address(
            UInt32(datagram[12]) << 24 | UInt32(datagram[13]) << 16 | UInt32(datagram[14]) << 8 | UInt32(datagram[15]))
        let identifier = UInt16(datagram[headerLength + 4]) << 8 | UInt16(datagram[headerLength + 5])
        let sequence = UInt16(datagram[headerLength + 6]) << 8 | UInt16(datagram[headerLength + 7])
        return (identifier, sequence, source)
    }

    static func checksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }
}

/// A minimal DNS query (type A, recursion desired) and the check that a datagram answers it.
enum DNSQuery {
    static func query(identifier: UInt16, name: String) -> [UInt8] {
        var packet: [UInt8] = [UInt8(identifier >> 8), UInt8(identifier & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") {
            packet.append(UInt8(label.utf8.count))
            packet += Array(label.utf8)
        }
        packet += [0, 0, 1, 0, 1]
        return packet
    }

    static func isAnswer(_ datagram: [UInt8], to identifier: UInt16) -> Bool {
        datagram.count >= 12 && UInt16(datagram[0]) << 8 | UInt16(datagram[1]) == identifier && datagram[2] & 0x80 != 0
    }
}
