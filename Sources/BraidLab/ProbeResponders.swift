import BraidConfig
import BraidKernel
import Foundation

/// Minimal HTTP and DNS services for health-check tests: `GET /health` answers 200, any other
/// path 503; every DNS query gets an empty answer with its own id. Enough to tell a probe that
/// got through from one that did not.
public final class ProbeResponders: Sendable {
    public static let httpPort: UInt16 = 80
    public static let dnsPort: UInt16 = 53

    private let httpListener: LabSocket
    private let dnsSocket: LabSocket

    public init(namespace: String, address: IPv4Address) throws {
        (httpListener, dnsSocket) = try NamespaceThread.runBlocking(in: namespace) {
            (
                try LabSocket.tcpListener(port: ProbeResponders.httpPort, address: address),
                try LabSocket.udp(port: ProbeResponders.dnsPort, address: address, timeout: 0)
            )
        }
        let httpListener = self.httpListener, dnsSocket = self.dnsSocket
        Thread.detachNewThread {
            while let (client, _) = try? httpListener.accept() {
                Thread.detachNewThread {
                    defer { client.close() }
                    guard let requestLine = try? client.readLine() else { return }
                    while let header = try? client.readLine(), header != "\r", !header.isEmpty {}
                    let healthy = requestLine.hasPrefix("GET /health ")
                    let status = healthy ? "200 OK" : "503 Service Unavailable"
                    try? client.send("HTTP/1.1 \(status)\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                }
            }
        }
        Thread.detachNewThread {
            while let (query, peer, port) = try? dnsSocket.receiveDatagramBytes() {
                guard query.count >= 12 else { continue }
                var answer = query
                answer[2] |= 0x80  // QR: this is a response
                answer[3] = 0x80  // RA, RCODE 0
                try? dnsSocket.sendDatagramBytes(answer, to: peer, port: port)
            }
        }
    }

    public func stop() {
        httpListener.close()
        dnsSocket.close()
    }
}
