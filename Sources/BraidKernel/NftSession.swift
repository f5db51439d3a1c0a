import CBraidLinux
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// nft's own library, libnftables, loaded into this process with one context kept open for the
/// process's life (as firewalld keeps one). An `nft -f -` process spends 15–20 ms starting and
/// reading the ruleset afresh before it sends anything, most of a weight change with a large
/// policy; the kept context sends the same transaction in a fraction of a millisecond, and
/// notices another program's change by the ruleset generation, as nft itself does.
///
/// A session belongs to the network namespace it was opened in (its netlink socket stays
/// there), so `run` refuses a caller in another namespace and the caller runs the nft program
/// instead. What the kernel is given is the same text either way, and so are nft's errors.
public final class NftSession: Sendable {
    /// The C session, only ever touched under `lock`.
    private struct Handle: @unchecked Sendable {
        let pointer: OpaquePointer
    }

    private let lock: Mutex<Handle>
    private let namespace: NetworkNamespaceIdentity

    /// Opens a session in the calling thread's network namespace; nil when libnftables cannot be
    /// loaded (the nft program is used then).
    public init?() {
        guard let namespace = NetworkNamespaceIdentity.ofCallingThread(), let pointer = braid_nft_session_open() else {
            return nil
        }
        self.lock = Mutex(Handle(pointer: pointer))
        self.namespace = namespace
    }

    deinit {
        lock.withLock { braid_nft_session_close($0.pointer) }
    }

    /// The process's session, opened on first use in the namespace of the thread that uses it
    /// first (the process's own, for the daemon and the command line).
    static let forThisProcess: NftSession? = NftSession()

    /// Scripts at least this long free enough memory afterwards to be worth a malloc_trim.
    static let trimThreshold = 64 * 1024

    /// Runs `script` as `nft -f -` would, or returns nil when the calling thread is not in the
    /// session's namespace.
    func run(_ script: String) -> CommandResult? {
        guard NetworkNamespaceIdentity.ofCallingThread() == namespace else { return nil }
        let (status, error) = lock.withLock { handle -> (Int32, String) in
            var error: UnsafePointer<CChar>?
            let status = braid_nft_session_run(handle.pointer, script, &error)
            return (status, error.map { String(cString: $0) } ?? "")
        }
        // A large load leaves tens of megabytes free in the heap; without this they stay in RSS.
        if script.utf8.count >= Self.trimThreshold { braid_malloc_trim() }
        return CommandResult(status: status == 0 ? 0 : 1, standardOutput: "", standardError: error)
    }
}

/// Which network namespace a thread is in: the device and inode of /proc/thread-self/ns/net.
struct NetworkNamespaceIdentity: Sendable, Equatable {
    let device: UInt64
    let inode: UInt64

    static func ofCallingThread() -> NetworkNamespaceIdentity? {
        var info = stat()
        guard stat("/proc/thread-self/ns/net", &info) == 0 else { return nil }
        return NetworkNamespaceIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }
}

/// A namespaced runner's libnftables session, opened inside the namespace on first use.
final class NamespaceNftSession: Sendable {
    private let opened = Mutex<NftSession??>(nil)

    func session(in runner: NamespacedCommandRunner) throws(KernelError) -> NftSession? {
        if let known = opened.withLock({ $0 }) { return known }
        let session = try runner.withinNetworkNamespace { NftSession() }
        opened.withLock { $0 = .some(session) }
        return session
    }
}
