import BraidKernel
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An advisory lock (flock) on a file in Braid's state directory, so that two `braid apply`, an
/// `apply` and a daemon re-plan, or two daemons never interleave their kernel changes (which
/// left half of one plan and half of the other installed). The holder writes its pid into the
/// file, so whoever waits can say who it waits for.
///
/// The descriptor is kept open for the life of the process and reopened when the file was
/// deleted or replaced (a removed state directory), so the lock is always on the file others see.
public final class StateDirectoryLock: Sendable {
    public let path: String
    private let descriptor = Mutex<Int32>(-1)

    public init(path: String) {
        self.path = path
    }

    deinit {
        descriptor.withLock { if $0 >= 0 { close($0) } }
    }

    /// Takes the lock, waiting at most `timeout`. `onWait` is called once if the lock is busy, with
    /// the holder's pid when known.
    public func acquire(timeout: Duration, onWait: (Int32?) -> Void = { _ in }) throws(StateLockError) {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var waited = false
        while true {
            let fd = try currentDescriptor()
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                // The file may have been replaced between open and flock; lock the one on disk.
                if isStillOnDisk(fd) {
                    writeOwner(fd)
                    return
                }
                flock(fd, LOCK_UN)
                continue
            }
            guard errno == EWOULDBLOCK || errno == EINTR else {
                throw .cannotLock(path: path, reason: PosixError.current().reason)
            }
            if !waited {
                onWait(holder())
                waited = true
            }
            if clock.now >= deadline { throw .busy(path: path, holder: holder(), waited: timeout) }
            usleep(10_000)
        }
    }

    /// Takes the lock only if it is free.
    public func tryAcquire() throws(StateLockError) -> Bool {
        do {
            try acquire(timeout: .zero)
            return true
        } catch .busy {
            return false
        }
    }

    /// Whether another process holds the lock now (checked without creating or taking it).
    public func isHeldElsewhere() -> Bool {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_SH | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    public func release() {
        descriptor.withLock { fd in
            guard fd >= 0 else { return }
            _ = ftruncate(fd, 0)
            flock(fd, LOCK_UN)
        }
    }

    /// The pid written by whoever holds the lock now, if readable.
    public func holder() -> Int32? {
        guard case .success(let bytes?) = PosixFile.read(path, limit: 64) else { return nil }
        return Int32(String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    private func currentDescriptor() throws(StateLockError) -> Int32 {
        let result: Result<Int32, StateLockError> = descriptor.withLock { fd in
            if fd >= 0, isStillOnDisk(fd) { return .success(fd) }
            if fd >= 0 { close(fd) }
            fd = -1
            let directory = (path as NSString).deletingLastPathComponent
            if case .failure(let error) = PosixFile.createDirectory(directory) {
                return .failure(.cannotLock(path: path, reason: "cannot create \(directory): \(error.reason)"))
            }
            let opened = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard opened >= 0 else { return .failure(.cannotLock(path: path, reason: PosixError.current().reason)) }
            fd = opened
            return .success(opened)
        }
        return try result.get()
    }

    private func isStillOnDisk(_ fd: Int32) -> Bool {
        var open = stat()
        var onDisk = stat()
        guard fstat(fd, &open) == 0, stat(path, &onDisk) == 0 else { return false }
        return open.st_ino == onDisk.st_ino && open.st_dev == onDisk.st_dev
    }

    private func writeOwner(_ fd: Int32) {
        let text = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }
}

/// Why Braid could not take a lock on its state directory.
public enum StateLockError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Another Braid command holds it.
    case busy(path: String, holder: Int32?, waited: Duration)
    /// The lock file cannot be created or locked (a read-only or full state directory).
    case cannotLock(path: String, reason: String)

    public var description: String {
        switch self {
        case .busy(let path, let holder, let waited):
            let who =
                holder.map { "process \($0)\(Self.commandLine(of: $0).map { " (\($0))" } ?? "")" } ?? "another Braid command"
            return "\(who) holds \(path) and did not release it within \(waited.components.seconds) s; "
                + "wait for it to finish, or stop it, then try again"
        case .cannotLock(let path, let reason):
            return "cannot lock \(path): \(reason)"
        }
    }

    static func commandLine(of pid: Int32) -> String? {
        guard case .success(let bytes?) = PosixFile.read("/proc/\(pid)/cmdline", limit: 4096), !bytes.isEmpty else { return nil }
        let words = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return words.prefix(4).joined(separator: " ").filter { !$0.isASCII || $0.asciiValue! >= 0x20 }
    }
}
