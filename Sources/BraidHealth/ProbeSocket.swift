import BraidConfig
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Opening sockets that leave through one WAN whatever the main table says: SO_MARK selects the
/// WAN's routing table through Braid's fwmark rule, and SO_BINDTODEVICE pins the interface (on its
/// own it would make the kernel ARP for off-link targets when main has no route that way).
enum ProbeSocket {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func open(type: Int32, protocol: Int32, interface: String, mark: UInt32) throws -> Int32 {
        let descriptor = socket(AF_INET, type | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), `protocol`)
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
    static func connect(_ descriptor: Int32, to address: IPv4Address, port: UInt16) throws -> Bool {
        var target = socketAddress(address, port)
        let result = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
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

    static func socketAddress(_ address: IPv4Address, _ port: UInt16) -> sockaddr_in {
        var value = sockaddr_in()
        value.sin_family = sa_family_t(AF_INET)
        value.sin_port = port.bigEndian
        value.sin_addr.s_addr = address.value.bigEndian
        return value
    }

    static func send(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    static func sendTo(_ descriptor: Int32, _ bytes: [UInt8], _ address: IPv4Address) -> Bool {
        var target = socketAddress(address, 0)
        return withUnsafePointer(to: &target) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, 0, target, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        } == bytes.count
    }

    static func receive(_ descriptor: Int32, capacity: Int = 2048) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: capacity)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Array(buffer[..<count])
    }
}

/// ICMP echo requests and replies (RFC 792).
enum ICMPEcho {
    static func request(identifier: UInt16, sequence: UInt16) -> [UInt8] {
        var packet: [UInt8] = [8, 0, 0, 0, UInt8(identifier >> 8), UInt8(identifier & 0xff), UInt8(sequence >> 8), UInt8(sequence & 0xff)]
        packet += Array("braid-hc".utf8)
        let sum = checksum(packet)
        packet[2] = UInt8(sum >> 8)
        packet[3] = UInt8(sum & 0xff)
        return packet
    }

    /// The (identifier, sequence, source) of an echo reply in a raw IPv4 datagram, or nil.
    static func parseReply(_ datagram: [UInt8]) -> (identifier: UInt16, sequence: UInt16, source: IPv4Address)? {
        guard datagram.count >= 20 else { return nil }
        let headerLength = Int(datagram[0] & 0x0f) * 4
        guard datagram.count >= headerLength + 8, datagram[headerLength] == 0 else { return nil }
        let source = IPv4Address(UInt32(datagram[12]) << 24 | UInt32(datagram[13]) << 16 | UInt32(datagram[14]) << 8 | UInt32(datagram[15]))
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
