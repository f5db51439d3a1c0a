import CBraidLinux
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs blocking socket code on a dedicated thread that has entered a network namespace.
///
/// `setns` changes only the calling thread, and a socket stays in the namespace it was created
/// in, so the lab can open sockets "inside" a LAN host or the internet host from the test process
/// itself, with no helper programs to install or to clean up.
public enum NamespaceThread {
    /// Runs `body` on a new thread inside `namespace` and returns its result.
    public static func run<Result: Sendable>(in namespace: String, _ body: @escaping @Sendable () throws -> Result) async throws -> Result {
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
    /// For setting up sockets from synchronous code (servers); traffic uses the async `run`.
    public static func runBlocking<Result: Sendable>(in namespace: String, _ body: @escaping @Sendable () throws -> Result) throws -> Result {
        let done = DispatchSemaphore(value: 0)
        let outcome = LockedBox<Swift.Result<Result, any Error>?>(nil)
        let thread = Thread {
            outcome.value = Swift.Result { try enter(namespace); return try body() }
            done.signal()
        }
        thread.start()
        done.wait()
        return try outcome.value!.get()
    }

    static func enter(_ namespace: String) throws {
        let descriptor = open("/var/run/netns/\(namespace)", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw LabError("cannot open network namespace \(namespace): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        guard braid_enter_network_namespace(descriptor) == 0 else {
            throw LabError("cannot enter network namespace \(namespace): \(String(cString: strerror(errno)))")
        }
    }
}

/// A value shared between threads behind a lock.
public final class LockedBox<Value>: @unchecked Sendable {
    private var stored: Value
    private let lock = NSLock()

    public init(_ value: Value) { stored = value }

    public var value: Value {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }

    public func update<Result>(_ change: (inout Value) -> Result) -> Result {
        lock.withLock { change(&stored) }
    }
}
