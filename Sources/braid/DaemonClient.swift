import BraidConfig
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The few HTTP calls `braid drain|undrain|events` make to the running daemon's API: HTTP/1.1
/// over a plain socket to the configured `api.listen` (loopback by default), with the token from
/// `api.token_file`. Small on purpose: the CLI needs no HTTP client library for three requests.
struct DaemonClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    let listen: ListenAddress
    let token: String?

    /// The API of the daemon that `config` describes.
    init(config: Config) throws(Failure) {
        guard let listen = config.api.listen else {
            throw Failure(description: "the daemon's HTTP API is off (api.listen: none); this command talks to it")
        }
        self.listen = listen
        if let path = config.api.tokenFile {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw Failure(description: "cannot read api.token_file \(path) (run as root)")
            }
            token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            token = nil
        }
    }

    /// Sends one request; returns the status code and body.
    func request(_ method: String, _ path: String) throws(Failure) -> (status: Int, body: String) {
        let descriptor = try connect()
        defer { close(descriptor) }
        try send(descriptor, method, path)
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            data += buffer[..<count]
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let headerEnd = text.range(of: "\r\n\r\n") else {
            throw Failure(description: "the daemon at \(listen) sent no HTTP answer")
        }
        let statusLine = text[..<headerEnd.lowerBound].split(separator: "\r\n").first ?? ""
        let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        var body = String(text[headerEnd.upperBound...])
        if text[..<headerEnd.lowerBound].lowercased().contains("transfer-encoding: chunked") { body = Self.unchunk(body) }
        return (status, body)
    }

    /// Reads a server-sent event stream, calling `event` with each `data:` payload, until the
    /// daemon closes it.
    func stream(_ path: String, event: (String) -> Void) throws(Failure) {
        let descriptor = try connect()
        defer { close(descriptor) }
        try send(descriptor, "GET", path)
        var pending = ""
        var headersDone = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { return }
            pending += String(decoding: buffer[..<count], as: UTF8.self)
            if !headersDone {
                guard let end = pending.range(of: "\r\n\r\n") else { continue }
                let head = pending[..<end.lowerBound]
                guard head.hasPrefix("HTTP/1.1 200") else {
                    throw Failure(description: "the daemon answered: \(head.split(separator: "\r\n").first ?? "")")
                }
                pending = String(pending[end.upperBound...])
                headersDone = true
            }
            // Chunk-size lines (hex digits alone on a line) carry no event; data lines do.
            while let newline = pending.firstIndex(of: "\n") {
                let line = pending[..<newline].trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
                pending = String(pending[pending.index(after: newline)...])
                if line.hasPrefix("data: ") { event(String(line.dropFirst(6))) }
            }
        }
    }

    private func send(_ descriptor: Int32, _ method: String, _ path: String) throws(Failure) {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(listen)\r\nConnection: close\r\nContent-Length: 0\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        head += "\r\n"
        let bytes = Array(head.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0 && errno == EINTR { continue }
            guard sent > 0 else {
                throw Failure(description: "cannot send to the daemon at \(listen): \(String(cString: strerror(errno)))")
            }
            offset += sent
        }
    }

    private func connect() throws(Failure) -> Int32 {
        let family: Int32
        var storage = sockaddr_storage()
        var length: socklen_t
        switch listen.host {
        case .v4(let address):
            family = AF_INET
            var socketAddress = sockaddr_in()
            socketAddress.sin_family = sa_family_t(AF_INET)
            socketAddress.sin_port = in_port_t(UInt16(listen.port).bigEndian)
            socketAddress.sin_addr = in_addr(s_addr: address.value.bigEndian)
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: socketAddress) { Array($0) }) }
        case .v6:
            family = AF_INET6
            var socketAddress = sockaddr_in6()
            socketAddress.sin6_family = sa_family_t(AF_INET6)
            socketAddress.sin6_port = in_port_t(UInt16(listen.port).bigEndian)
            _ = inet_pton(AF_INET6, listen.hostText, &socketAddress.sin6_addr)
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutableBytes(of: &storage) { $0.copyBytes(from: withUnsafeBytes(of: socketAddress) { Array($0) }) }
        }
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
        let connected = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, length) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw Failure(description: "no daemon answers at \(listen) (\(reason)); is `braid run` running?")
        }
        return descriptor
    }

    /// Joins the chunks of a chunked body.
    static func unchunk(_ body: String) -> String {
        var result = ""
        var rest = Substring(body)
        while let lineEnd = rest.range(of: "\r\n") {
            guard let size = Int(rest[..<lineEnd.lowerBound].split(separator: ";").first ?? "", radix: 16), size > 0 else {
                break
            }
            let start = lineEnd.upperBound
            let bytes = Array(rest[start...].utf8)
            guard bytes.count >= size else { break }
            result += String(decoding: bytes[..<size], as: UTF8.self)
            rest = Substring(String(decoding: bytes[size...], as: UTF8.self)).dropFirst(2)
        }
        return result
    }
}
