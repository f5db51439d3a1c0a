import CBraidLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What an rtnetlink notification burst was about.
public struct KernelNotification: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }

    /// A link or an address changed: WANs may have come or gone.
    public static let links = KernelNotification(rawValue: 1)
    /// A route or an ip rule changed: possibly one of Braid's, deleted by another program.
    public static let routing = KernelNotification(rawValue: 2)
}

/// Listens to the kernel's rtnetlink link, address, route and rule notifications and calls back
/// on each burst, saying which kinds it held. Events, not polling: a WAN whose carrier drops, or
/// an ip rule of Braid's that another tool deletes, is noticed in milliseconds. The callback only
/// says "something changed"; the controller re-reads the kernel, which also covers messages lost
/// to a full socket buffer (ENOBUFS).
public final class LinkMonitor: @unchecked Sendable {
    private let descriptor: Int32
    private let onChange: @Sendable (KernelNotification) -> Void

    public init(onChange: @escaping @Sendable (KernelNotification) -> Void) throws {
        descriptor = braid_open_link_monitor()
        guard descriptor >= 0 else {
            throw DaemonError.linkMonitor(String(cString: strerror(errno)))
        }
        self.onChange = onChange
    }

    public func start() {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EBADF { return }
                if count == 0 { return }
                // ENOBUFS: notifications were lost; anything may have changed.
                let kinds = count < 0 ? [.links, .routing] : Self.kinds(in: buffer[0..<count])
                if !kinds.isEmpty { onChange(kinds) }
            }
        }
        thread.name = "braid-link-monitor"
        thread.start()
    }

    public func stop() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
    }

    /// The kinds of the netlink messages in one datagram (each starts with a 16-byte nlmsghdr:
    /// length u32, type u16, …; messages are 4-byte aligned).
    static func kinds(in datagram: ArraySlice<UInt8>) -> KernelNotification {
        var kinds: KernelNotification = []
        var offset = datagram.startIndex
        while offset + 16 <= datagram.endIndex {
            let length =
                Int(datagram[offset]) | Int(datagram[offset + 1]) << 8 | Int(datagram[offset + 2]) << 16
                | Int(datagram[offset + 3]) << 24
            let type = Int(datagram[offset + 4]) | Int(datagram[offset + 5]) << 8
            switch type {
            case 16, 17, 20, 21: kinds.insert(.links)  // RTM_NEWLINK, DELLINK, NEWADDR, DELADDR
            case 24, 25, 32, 33: kinds.insert(.routing)  // RTM_NEWROUTE, DELROUTE, NEWRULE, DELRULE
            default: break
            }
            guard length >= 16 else { break }
            offset += (length + 3) & ~3
        }
        return kinds
    }
}
