import BraidConfig
import BraidKernel
import Foundation

/// The lab's test server: answers every line on a TCP connection, and every UDP datagram, with the
/// address it saw the client come from. Behind Braid's NAT that address names the WAN that was used.
public final class WhoAmIServer: Sendable {
    private let listener: LabSocket
    private let datagrams: LabSocket
    private let connections = LockedBox<[LabSocket]>([])

    /// Starts listening on `port` (TCP and UDP) in `namespace`. UDP binds `address`: an unbound
    /// UDP socket on a multi-homed host answers from whichever address routing picks, and NAT
    /// on the way back would not recognise the reply.
    /// `identity`, when given, follows the address in every answer ("10.0.0.5 backend-2"), so a test
    /// can tell which of several servers answered.
    public init(namespace: String, address: IPv4Address = IPv4Address(0), port: UInt16, identity: String? = nil) throws {
        let (listener, datagrams) = try NamespaceThread.runBlocking(in: namespace) {
            (try LabSocket.tcpListener(port: port), try LabSocket.udp(port: port, address: address, timeout: 0))
        }
        self.listener = listener
        self.datagrams = datagrams
        let connections = self.connections
        Thread.detachNewThread {
            while let (client, peer) = try? listener.accept() {
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
        Thread.detachNewThread {
            while let (_, peer, peerPort) = try? datagrams.receiveDatagram() {
                try? datagrams.sendDatagram("\(peer)\n", to: peer, port: peerPort)
            }
        }
    }

    /// Stops accepting and closes every open connection.
    public func stop() {
        listener.close()
        datagrams.close()
        for connection in connections.value { connection.close() }
    }
}
