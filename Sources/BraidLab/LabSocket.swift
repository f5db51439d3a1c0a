import BraidConfig
import BraidKernel
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A blocking IPv4 socket for lab traffic: just enough TCP and UDP to send requests and read which
/// address the other side saw. Create it on a `NamespaceThread` to place it in a namespace.
public final class LabSocket: @unchecked Sendable {
    public let descriptor: Int32
    private let closed = LockedBox(false)

    init(descriptor: Int32) { self.descriptor = descriptor }

    /// The descriptor is released only here, when no thread can still be using it: closing it
    /// while another thread sits in recv would let that thread read from whatever socket the
    /// kernel hands the same number to next.
    deinit { Glibc.close(descriptor) }

    /// Shuts the socket down, waking any thread blocked on it; every later call throws.
    public func close() {
        let wasClosed = closed.update { value -> Bool in
            defer { value = true }
            return value
        }
        if !wasClosed { shutdown(descriptor, Int32(SHUT_RDWR)) }
    }

    private func checkOpen() throws {
        if closed.value { throw LabError("socket closed") }
    }

    public static func tcpListener(port: UInt16, address: IPv4Address = IPv4Address(0)) throws -> LabSocket {
        let socket = try make(type: Int32(SOCK_STREAM.rawValue))
        var one: Int32 = 1
        setsockopt(socket.descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        try socket.bind(address, port)
        guard listen(socket.descriptor, 512) == 0 else { throw posixError("listen") }
        return socket
    }

    public static func udp(port: UInt16 = 0, address: IPv4Address = IPv4Address(0), timeout: Double = 2) throws -> LabSocket {
        let socket = try make(type: Int32(SOCK_DGRAM.rawValue))
        try socket.bind(address, port)
        socket.setTimeout(timeout)
        return socket
    }

    /// Connects with a timeout (SO_SNDTIMEO bounds a blocking connect on Linux).
    /// `source` binds the local address first: one host can act as many LAN clients.
    public static func tcpConnect(
        to address: IPv4Address, port: UInt16, timeout: Double = 2, source: IPv4Address? = nil
    ) throws -> LabSocket {
        let socket = try make(type: Int32(SOCK_STREAM.rawValue))
        socket.setTimeout(timeout)
        if let source { try socket.bind(source, 0) }
        var target = socketAddress(address, port)
        let result = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket.descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw posixError("connect to \(address):\(port)") }
        return socket
    }

    public func accept() throws -> (LabSocket, IPv4Address) {
        try checkOpen()
        var peer = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let client = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(descriptor, $0, &length) }
        }
        guard client >= 0 else { throw Self.posixError("accept") }
        return (LabSocket(descriptor: client), IPv4Address(UInt32(bigEndian: peer.sin_addr.s_addr)))
    }

    public func send(_ text: String) throws {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes {
                Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            guard written > 0 else { throw Self.posixError("send") }
            offset += written
        }
    }

    /// Reads up to and including the next newline; nil at end of stream.
    public func readLine() throws -> String? {
        try checkOpen()
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let count = recv(descriptor, &byte, 1, 0)
            if count == 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            guard count > 0 else { throw Self.posixError("receive") }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
    }

    public func sendDatagram(_ text: String, to address: IPv4Address, port: UInt16) throws {
        var target = Self.socketAddress(address, port)
        let bytes = Array(text.utf8)
        let sent = withUnsafePointer(to: &target) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
                bytes.withUnsafeBytes {
                    sendto(descriptor, $0.baseAddress, $0.count, 0, target, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent >= 0 else { throw Self.posixError("sendto \(address):\(port)") }
    }

    public func receiveDatagram() throws -> (String, IPv4Address, UInt16) {
        let (bytes, address, port) = try receiveDatagramBytes()
        return (String(decoding: bytes, as: UTF8.self), address, port)
    }

    public func sendDatagramBytes(_ bytes: [UInt8], to address: IPv4Address, port: UInt16) throws {
        var target = Self.socketAddress(address, port)
        let sent = withUnsafePointer(to: &target) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
                bytes.withUnsafeBytes {
                    sendto(descriptor, $0.baseAddress, $0.count, 0, target, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard sent >= 0 else { throw Self.posixError("sendto \(address):\(port)") }
    }

    public func receiveDatagramBytes() throws -> ([UInt8], IPv4Address, UInt16) {
        try checkOpen()
        var buffer = [UInt8](repeating: 0, count: 2048)
        var peer = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let count = withUnsafeMutablePointer(to: &peer) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer in
                buffer.withUnsafeMutableBytes { recvfrom(descriptor, $0.baseAddress, $0.count, 0, peer, &length) }
            }
        }
        guard count >= 0 else { throw Self.posixError("receive datagram") }
        return (Array(buffer[..<count]), IPv4Address(UInt32(bigEndian: peer.sin_addr.s_addr)), UInt16(bigEndian: peer.sin_port))
    }

    func setTimeout(_ seconds: Double) {
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    private func bind(_ address: IPv4Address, _ port: UInt16) throws {
        var local = Self.socketAddress(address, port)
        let result = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw Self.posixError("bind \(address):\(port)") }
    }

    private static func make(type: Int32) throws -> LabSocket {
        let descriptor = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw posixError("socket") }
        return LabSocket(descriptor: descriptor)
    }

    static func socketAddress(_ address: IPv4Address, _ port: UInt16) -> sockaddr_in {
        var value = sockaddr_in()
        value.sin_family = sa_family_t(AF_INET)
        value.sin_port = port.bigEndian
        value.sin_addr.s_addr = address.value.bigEndian
        return value
    }

    static func posixError(_ operation: String) -> LabError {
        LabError("\(operation): \(String(cString: strerror(errno)))")
    }
}
