import BraidKernel
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An errno, with the words the C library has for it. Used instead of Foundation's file APIs for
/// Braid's own files, whose errors print as `NSCocoaErrorDomain` dumps rather than "Permission
/// denied" or "No space left on device".
public struct PosixError: Error, Sendable, Equatable {
    public let code: Int32

    public var reason: String { String(cString: strerror(code)) }

    static func current() -> PosixError { PosixError(code: errno) }
}

/// Small, honest file operations for the state directory.
enum PosixFile {
    /// The whole file, nil when it does not exist. Refuses what is not a regular file (a FIFO
    /// would block, `/dev/zero` never ends) and anything larger than `limit`.
    /// Which version of a file is at `path` (device, inode, size, modification time), or nil when
    /// it cannot be seen: a file replaced by rename or rewritten has another stamp.
    static func stamp(_ path: String) -> FileStamp? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return FileStamp(
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
            seconds: Int64(info.st_mtim.tv_sec), nanoseconds: Int64(info.st_mtim.tv_nsec))
    }

    static func read(_ path: String, limit: Int) -> Result<[UInt8]?, PosixError> {
        var info = stat()
        if stat(path, &info) != 0 { return errno == ENOENT ? .success(nil) : .failure(.current()) }
        guard info.st_mode & S_IFMT == S_IFREG else { return .failure(PosixError(code: EINVAL)) }
        guard Int(info.st_size) <= limit else { return .failure(PosixError(code: EFBIG)) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return .failure(.current()) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 { if errno == EINTR { continue } else { return .failure(.current()) } }
            if count == 0 { return .success(bytes) }
            bytes += chunk[0..<count]
            if bytes.count > limit { return .failure(PosixError(code: EFBIG)) }
        }
    }

    /// `mkdir -p` with mode 0700 for what it creates: the state holds the whole ruleset, which is
    /// nobody else's business. An existing directory keeps its mode (systemd's RuntimeDirectory
    /// sets its own).
    static func createDirectory(_ path: String) -> Result<Void, PosixError> {
        var info = stat()
        if stat(path, &info) == 0 {
            return info.st_mode & S_IFMT == S_IFDIR ? .success(()) : .failure(PosixError(code: ENOTDIR))
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != path, case .failure(let error) = createDirectory(parent) { return .failure(error) }
        if mkdir(path, 0o700) != 0 && errno != EEXIST { return .failure(.current()) }
        return .success(())
    }

    /// Replaces `path` atomically: write a temporary file beside it (`path` + `temporarySuffix`),
    /// rename it over. Writers that may run at once (client hooks) give each a suffix of its own.
    static func replace(
        _ path: String, with bytes: [UInt8], mode: mode_t, temporarySuffix: String = ".new"
    ) -> Result<Void, PosixError> {
        let temporary = path + temporarySuffix
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { return .failure(.current()) }
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, $0.count - written) }
            if count < 0 {
                if errno == EINTR { continue }
                let error = PosixError.current()
                close(descriptor)
                unlink(temporary)
                return .failure(error)
            }
            written += count
        }
        // fchmod: an older file of the same name may have been created with a wider umask. No
        // fsync: the state describes kernel state that a power loss erases too, and on a disk
        // (a --state-dir outside /run) it would put milliseconds on every failover.
        if fchmod(descriptor, mode) != 0 {
            let error = PosixError.current()
            close(descriptor)
            unlink(temporary)
            return .failure(error)
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let error = PosixError.current()
            unlink(temporary)
            return .failure(error)
        }
        return .success(())
    }
}

/// See `PosixFile.stamp`.
struct FileStamp: Sendable, Equatable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var seconds: Int64
    var nanoseconds: Int64
}
