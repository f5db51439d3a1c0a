#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
#endif

/// Reads the config file and set files, telling apart the ways that can fail so the message says
/// what to fix. Only regular files are read: a FIFO would block the reader until something writes
/// to it, and a device such as /dev/zero never ends.
enum TextFile {
    /// The largest set file Braid reads (64 MiB): a set file of a million prefixes is about 18 MiB.
    static let maximumBytes = 64 << 20
    /// The largest config file: 10,000 rules are under 1 MiB; long lists belong in set files.
    static let maximumConfigBytes = 8 << 20

    /// Why a file could not be read; `description` completes "cannot read PATH: ".
    enum ReadError: Error, Equatable, CustomStringConvertible {
        case noSuchFile
        case permissionDenied
        case directory
        case notRegularFile
        case tooLarge(bytes: Int, limit: Int)
        case notUTF8
        /// Text never holds a NUL; a file that does is binary (and YAML would spend long on it).
        case nulByte(offset: Int)
        case system(errno: Int32)

        var description: String {
            switch self {
            case .noSuchFile: "no such file"
            case .permissionDenied: "permission denied; make the file (and its directories) readable by the user running braid"
            case .directory: "it is a directory; give the path of a file"
            case .notRegularFile: "not a regular file (a FIFO, socket or device); give the path of a file"
            case .tooLarge(let bytes, let limit): "the file is \(bytes) bytes, more than the \(limit >> 20) MiB Braid reads"
            case .notUTF8: "not UTF-8 text"
            case .nulByte(let offset): "not text: it has a NUL byte at offset \(offset)"
            case .system(let number): String(cString: strerror(number))
            }
        }
    }

    static func read(_ path: String, limit maximumBytes: Int = Self.maximumBytes) -> Result<String, ReadError> {
        // stat before open: opening a device can have effects of its own (a watchdog, a tape), and
        // opening a FIFO for reading blocks until a writer appears.
        var status = stat()
        guard stat(path, &status) == 0 else { return .failure(error(errno)) }
        if let refusal = refusal(status, limit: maximumBytes) { return .failure(refusal) }
        // O_NONBLOCK: should the path be swapped for a FIFO after the stat, open still returns at once.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return .failure(error(errno)) }
        defer { close(descriptor) }
        guard fstat(descriptor, &status) == 0 else { return .failure(error(errno)) }
        if let refusal = refusal(status, limit: maximumBytes) { return .failure(refusal) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(Int(status.st_size))
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count == 0 { break }
            if count < 0 {
                if errno == EINTR { continue }
                return .failure(error(errno))
            }
            bytes.append(contentsOf: chunk[..<count])
            // The file may grow after the fstat.
            if bytes.count > maximumBytes { return .failure(.tooLarge(bytes: bytes.count, limit: maximumBytes)) }
        }
        if let nul = bytes.firstIndex(of: 0) { return .failure(.nulByte(offset: nul)) }
        guard let text = String(validating: bytes, as: UTF8.self) else { return .failure(.notUTF8) }
        return .success(text)
    }

    private static func refusal(_ status: stat, limit: Int) -> ReadError? {
        switch status.st_mode & S_IFMT {
        case S_IFREG: Int(status.st_size) > limit ? .tooLarge(bytes: Int(status.st_size), limit: limit) : nil
        case S_IFDIR: .directory
        default: .notRegularFile
        }
    }

    private static func error(_ number: Int32) -> ReadError {
        switch number {
        case ENOENT, ENOTDIR: .noSuchFile
        case EACCES, EPERM: .permissionDenied
        case EISDIR: .directory
        default: .system(errno: number)
        }
    }
}
