import CBraidLinux
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking code on a dedicated thread that has entered a network namespace.
///
/// `setns` changes only the calling thread, and a socket stays in the namespace it was created
/// in, so code can open sockets "inside" a namespace from this process, with no helper programs
/// to install or to clean up: the lab's hosts and servers, and the kernel port's netlink requests
/// when it drives a router that lives in a namespace.
public enum NamespaceThread {
    /// Runs `body` on a new thread inside `namespace` and returns its result.
    public static func run<Result: Sendable>(
        in namespace: String, _ body: @escaping @Sendable () throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    try enter(namespace)
                    continuation.resume(returning: try body())
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Runs `body` on a new thread inside `namespace`, blocking the caller until it returns.
    public static func runBlocking<Result: Sendable>(
        in namespace: String, _ body: @escaping @Sendable () throws -> Result
    ) throws -> Result {
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Swift.Result<Result, any Error>?>(nil)
        let thread = Thread {
            let result = Swift.Result {
                try enter(namespace); return try body()
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        thread.start()
        done.wait()
        return try outcome.withLock { $0 }!.get()
    }

    static func enter(_ namespace: String) throws(KernelError) {
        let descriptor = open("/var/run/netns/\(namespace)", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw .namespace("cannot open network namespace \(namespace): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        guard braid_enter_network_namespace(descriptor) == 0 else {
            throw .namespace("cannot enter network namespace \(namespace): \(String(cString: strerror(errno)))")
        }
    }
}
