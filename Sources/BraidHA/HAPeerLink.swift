import BraidConfig
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A small UDP hello between the two Braid gateways over the sync link, every 200 ms: each says
/// its slot-layout digest (`HASlotLayout`) and role. It answers two questions keepalived and
/// conntrackd do not: is the peer's Braid alive (status shows it), and do both gateways agree on
/// what each mark means (a gateway whose layout differs refuses to become active).
public final class HAPeerLink: Sendable {
    /// conntrackd's port + 1, on the sync link only.
    public static let port: UInt16 = 3781
    public static let interval = Duration.milliseconds(200)
    /// The peer is unreachable after this long without a hello (five missed).
    public static let silenceLimit = Duration.seconds(1)

    /// What was last heard from the peer.
    public struct PeerState: Sendable, Equatable {
        public var layoutDigest: String
        public var role: String
        public var heardAt: ContinuousClock.Instant
    }

    private let descriptor: Int32
    private let peer: IPv4Address
    private let running = Atomic<Bool>(true)
    private let heard = Mutex<PeerState?>(nil)
    private let message = Mutex<String>("")

    /// Binds `localAddress:port` (this gateway's address on the sync link).
    public init(localAddress: IPv4Address, peer: IPv4Address) throws(HAError) {
        self.peer = peer
        let socketDescriptor = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw .peerLink("socket: \(String(cString: strerror(errno)))") }
        var reuse: Int32 = 1
        setsockopt(socketDescriptor, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(socketDescriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = Self.socketAddress(localAddress, Self.port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let reason = String(cString: strerror(errno))
            close(socketDescriptor)
            throw .peerLink("cannot bind \(localAddress):\(Self.port) on the sync link: \(reason)")
        }
        descriptor = socketDescriptor
    }

    /// Starts sending `hello()`'s text and receiving the peer's, on two threads of their own.
    public func start(hello: @escaping @Sendable () -> String) {
        let descriptor = self.descriptor, peer = self.peer
        Thread.detachNewThread { [self] in
            var address = Self.socketAddress(peer, Self.port)
            while running.load(ordering: .relaxed) {
                let bytes = Array(hello().utf8)
                _ = withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
                        bytes.withUnsafeBytes {
                            sendto(descriptor, $0.baseAddress, $0.count, 0, target, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                }
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        Thread.detachNewThread { [self] in
            var buffer = [UInt8](repeating: 0, count: 512)
            while running.load(ordering: .relaxed) {
                var source = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                let count = buffer.withUnsafeMutableBytes { raw in
                    withUnsafeMutablePointer(to: &source) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(descriptor, raw.baseAddress, raw.count, 0, $0, &length)
                        }
                    }
                }
                guard count > 0, IPv4Address(UInt32(bigEndian: source.sin_addr.s_addr)) == peer else { continue }
                if let state = Self.parse(String(decoding: buffer[..<count], as: UTF8.self)) {
                    heard.withLock { $0 = state }
                }
            }
            close(descriptor)
        }
    }

    public func stop() { running.store(false, ordering: .relaxed) }

    /// The peer's last hello, if any arrived since start.
    public var lastHeard: PeerState? { heard.withLock { $0 } }

    /// Whether a hello arrived within `silenceLimit`.
    public var peerReachable: Bool {
        guard let last = lastHeard else { return false }
        return ContinuousClock.now - last.heardAt < Self.silenceLimit
    }

    /// `braid-ha 1 layout=DIGEST role=ROLE`.
    public static func hello(layoutDigest: String, role: HARole) -> String {
        "braid-ha 1 layout=\(layoutDigest) role=\(role.rawValue)\n"
    }

    static func parse(_ text: String) -> PeerState? {
        let words = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard words.count >= 4, words[0] == "braid-ha", words[1] == "1" else { return nil }
        var fields: [String: String] = [:]
        for word in words.dropFirst(2) {
            let pair = word.split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        guard let layout = fields["layout"], layout.count <= 32, let role = fields["role"], role.count <= 16 else { return nil }
        return PeerState(layoutDigest: layout, role: role, heardAt: .now)
    }

    static func socketAddress(_ address: IPv4Address, _ port: UInt16) -> sockaddr_in {
        var result = sockaddr_in()
        result.sin_family = sa_family_t(AF_INET)
        result.sin_port = port.bigEndian
        result.sin_addr.s_addr = address.value.bigEndian
        return result
    }
}
