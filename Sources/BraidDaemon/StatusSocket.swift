import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A local unix socket (mode 0600, so only root reads it) on which the daemon writes its status
/// as JSON to whoever connects. No network exposure, no protocol to parse.
///
/// If the socket file disappears (someone removed the state directory), `ensureListening`
/// binds a fresh one at the same path, so `braid status` keeps working.
public final class StatusSocketServer: @unchecked Sendable {
    public let path: String
    private let descriptor = Mutex<Int32>(-1)
    private let snapshot: @Sendable () -> DaemonStatus

    /// A unix socket path holds at most 107 bytes (sun_path is 108, with its NUL); a longer one
    /// would be cut short silently.
    public static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    public init(path: String, snapshot: @escaping @Sendable () -> DaemonStatus) {
        self.path = path
        self.snapshot = snapshot
    }

    /// Binds the socket and starts answering on it.
    public func listen() throws {
        guard path.utf8.count <= Self.maximumPathLength else {
            throw DaemonError.statusSocket(
                "\(path) is \(path.utf8.count) bytes; a unix socket path can have at most "
                    + "\(Self.maximumPathLength): use a shorter --state-dir")
        }
        try bind()
        start()
    }

    private func bind() throws {
        let directory = (path as NSString).deletingLastPathComponent
        if mkdir(directory, 0o700) != 0 && errno != EEXIST {
            throw DaemonError.statusSocket("cannot create \(directory): \(String(cString: strerror(errno)))")
        }
        unlink(path)
        let fresh = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fresh >= 0 else { throw DaemonError.statusSocket(String(cString: strerror(errno))) }
        var address = StatusSocketServer.address(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fresh, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, chmod(path, 0o600) == 0, Glibc.listen(fresh, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fresh)
            throw DaemonError.statusSocket("\(path): \(reason)")
        }
        let old = descriptor.withLock { current in
            defer { current = fresh }
            return current
        }
        if old >= 0 {
            shutdown(old, Int32(SHUT_RDWR))
            close(old)
        }
    }

    private func start() {
        let listening = descriptor.withLock { $0 }
        let thread = Thread { [self] in
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            while true {
                let client = accept(listening, nil, nil)
                if client < 0 { if errno == EINTR { continue } else { return } }
                if let data = try? encoder.encode(snapshot()) {
                    _ = data.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                }
                close(client)
            }
        }
        thread.name = "braid-status"
        thread.start()
    }

    /// Binds the socket again when its file is gone; true when it did.
    @discardableResult
    public func ensureListening() throws -> Bool {
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK { return false }
        try listen()
        return true
    }

    public func stop() {
        let current = descriptor.withLock { current in
            defer { current = -1 }
            return current
        }
        if current >= 0 {
            shutdown(current, Int32(SHUT_RDWR))
            close(current)
        }
        unlink(path)
    }

    static func address(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            let bytes = Array(path.utf8.prefix(buffer.count - 1))
            buffer.copyBytes(from: bytes)
        }
        return address
    }

    /// Reads the running daemon's status, or nil when no daemon listens at `path`.
    public static func read(path: String) -> DaemonStatus? {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var address = address(path)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { return nil }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            data.append(contentsOf: buffer[..<count])
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(DaemonStatus.self, from: data)
    }
}
