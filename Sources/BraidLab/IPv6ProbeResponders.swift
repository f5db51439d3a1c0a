import BraidConfig
import BraidKernel
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `ProbeResponders` for IPv6: on `[::]` port 80 `GET /health` answers 200 (any other path 503),
/// and on `[address]:53` every DNS query gets an empty answer with its own id (bound to the
/// address, so the answer comes from the address the probe's connected socket expects, not from
/// the outgoing interface's). IPv6 only, so the IPv4 responders can run in the same namespace.
public final class IPv6ProbeResponders: Sendable {
    private let httpListener: LabSocket
    private let dnsDescriptor: Int32

    public init(namespace: String, address: IPv6Address) throws {
        (httpListener, dnsDescriptor) = try NamespaceThread.runBlocking(in: namespace) {
            let listener = try LabSocket.tcpListener6(port: ProbeResponders.httpPort)
            let descriptor = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { throw LabError("socket: \(String(cString: strerror(errno)))") }
            var one: Int32 = 1
            setsockopt(descriptor, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
            var local = LabSocket.socketAddress6(address, ProbeResponders.dnsPort)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
            guard bound == 0 else {
                close(descriptor)
                throw LabError("bind [\(address)]:53: \(String(cString: strerror(errno)))")
            }
            return (listener, descriptor)
        }
        let httpListener = self.httpListener, dnsDescriptor = self.dnsDescriptor
        Thread.detachNewThread {
            while let (client, _) = try? httpListener.accept6() {
                Thread.detachNewThread {
                    defer { client.close() }
                    guard let requestLine = try? client.readLine() else { return }
                    while let header = try? client.readLine(), header != "\r", !header.isEmpty {}
                    let status = requestLine.hasPrefix("GET /health ") ? "200 OK" : "503 Service Unavailable"
                    try? client.send("HTTP/1.1 \(status)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                }
            }
        }
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 2048)
            while true {
                var peer = sockaddr_in6()
                var length = socklen_t(MemoryLayout<sockaddr_in6>.size)
                let count = withUnsafeMutablePointer(to: &peer) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer in
                        buffer.withUnsafeMutableBytes { recvfrom(dnsDescriptor, $0.baseAddress, $0.count, 0, peer, &length) }
                    }
                }
                if count < 0 && errno == EINTR { continue }
                // After `stop`'s shutdown a UDP socket returns 0 at once, forever: that is the end
                // (a probe is never empty), not a short query to skip, or this loop spins a core.
                guard count > 0 else { break }
                guard count >= 12 else { continue }
                var answer = Array(buffer[..<count])
                answer[2] |= 0x80  // QR: this is a response
                answer[3] = 0x80  // RA, RCODE 0
                _ = withUnsafePointer(to: &peer) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { peer in
                        answer.withUnsafeBytes { sendto(dnsDescriptor, $0.baseAddress, $0.count, 0, peer, length) }
                    }
                }
            }
            close(dnsDescriptor)
        }
    }

    public func stop() {
        httpListener.close()
        // Wakes the thread blocked in recvfrom, which then closes the socket itself.
        shutdown(dnsDescriptor, Int32(SHUT_RDWR))
    }
}
