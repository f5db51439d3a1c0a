import CBraidLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Listens to the kernel's rtnetlink link and address notifications and calls back on each burst.
/// Events, not polling: a WAN whose carrier drops is noticed in milliseconds. The callback only
/// says "something changed"; the controller re-reads the interfaces, which also covers messages
/// lost to a full socket buffer (ENOBUFS).
public final class LinkMonitor: @unchecked Sendable {
    private let descriptor: Int32
    private let onChange: @Sendable () -> Void

    public init(onChange: @escaping @Sendable () -> Void) throws {
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
                onChange()
            }
        }
        thread.name = "braid-link-monitor"
        thread.start()
    }

    public func stop() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
    }
}
