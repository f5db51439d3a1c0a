import BraidConfig
import BraidKernel
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// IPv6 TCP for lab traffic: the same blocking `LabSocket` (send, readLine, close), opened as
/// `AF_INET6`. Create it on a `NamespaceThread` to place it in a namespace.
extension LabSocket {
    /// Listens on `[::]:port`, IPv6 only, so an IPv4 listener on the same port can coexist.
    public static func tcpListener6(port: UInt16) throws -> LabSocket {
        let socket = try make6()
        var one: Int32 = 1
        setsockopt(socket.descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(socket.descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        try socket.bind6(.unspecified, port)
        guard listen(socket.descriptor, 512) == 0 else { throw posixError("listen") }
        return socket
    }

    /// Connects with a timeout; `source` binds the local address first (one host, many clients).
    public static func tcpConnect6(
        to address: IPv6Address, port: UInt16, timeout: Double = 2, source: IPv6Address? = nil
    ) throws -> LabSocket {
        let socket = try make6()
        socket.setTimeout(timeout)
        if let source { try socket.bind6(source, 0) }
        var target = socketAddress6(address, port)
        let result = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket.descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
        guard result == 0 else { throw posixError("connect to [\(address)]:\(port)") }
        return socket
    }

    /// Accepts a connection and names its peer's IPv6 address.
    public func accept6() throws -> (LabSocket, IPv6Address) {
        var peer = sockaddr_in6()
        var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        let client = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.accept(descriptor, $0, &length) }
        }
        guard client >= 0 else { throw Self.posixError("accept") }
        let address = withUnsafeBytes(of: peer.sin6_addr) { IPv6Address(bytes: $0) } ?? .unspecified
        return (LabSocket(descriptor: client), address)
    }

    private func bind6(_ address: IPv6Address, _ port: UInt16) throws {
        var local = Self.socketAddress6(address, port)
        let result = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
            }
        }
        guard result == 0 else { throw Self.posixError("bind [\(address)]:\(port)") }
    }

    private static func make6() throws -> LabSocket {
        let descriptor = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw posixError("socket") }
        return LabSocket(descriptor: descriptor)
    }

    static func socketAddress6(_ address: IPv6Address, _ port: UInt16) -> sockaddr_in6 {
        var value = sockaddr_in6()
        value.sin6_family = sa_family_t(AF_INET6)
        value.sin6_port = port.bigEndian
        withUnsafeMutableBytes(of: &value.sin6_addr) { buffer in
            for (index, byte) in address.bytes.enumerated() { buffer[index] = byte }
        }
        return value
    }
}

/// The IPv6 who-am-I server: answers every line on a TCP connection with the IPv6 address it saw
/// the client come from (behind Braid's NAT, the WAN's address or the translated prefix).
public final class IPv6WhoAmIServer: Sendable {
    private let listener: LabSocket
    private let connections = LockedBox<[LabSocket]>([])

    public init(namespace: String, port: UInt16, identity: String? = nil) throws {
        let listener = try NamespaceThread.runBlocking(in: namespace) { try LabSocket.tcpListener6(port: port) }
        self.listener = listener
        let connections = self.connections
        Thread.detachNewThread {
            while let (client, peer) = try? listener.accept6() {
                connections.update { $0.append(client) }
                Thread.detachNewThread {
                    while let line = try? client.readLine() {
                        if line == "quit" { break }
                        if (try? client.send("\(peer)\(identity.map { " \($0)" } ?? "")\n")) == nil { break }
                    }
                    client.close()
                    connections.update { $0.removeAll { $0 === client } }
                }
            }
        }
    }

    public func stop() {
        listener.close()
        for connection in connections.value { connection.close() }
    }
}

extension LabTraffic {
    /// The answers to `count` new IPv6 TCP connections, one request each: the address the server
    /// saw, or "failed: …".
    public static func newIPv6Connections(
        from namespace: NetworkNamespace, count: Int, to address: IPv6Address, port: UInt16 = Lab.serverPort,
        timeout: Double = 2, source: IPv6Address? = nil
    ) async throws -> [String] {
        try await NamespaceThread.run(in: namespace.name) {
            (0..<count).map { _ in
                do {
                    let socket = try LabSocket.tcpConnect6(to: address, port: port, timeout: timeout, source: source)
                    defer { socket.close() }
                    try socket.send("who\n")
                    return try socket.readLine() ?? "failed: closed"
                } catch {
                    return "failed: \(error)"
                }
            }
        }
    }
}
