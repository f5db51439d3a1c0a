import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The bearer token of the HTTP API, read from `api.token_file`.
public struct ApiToken: Sendable {
    let bytes: [UInt8]

    /// Why the token file cannot be used; the daemon refuses to start and says which.
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) { bytes = Array(text.utf8) }

    /// Reads the token from `path`: the file must be a regular file owned by root and not
    /// readable or writable by others, and hold a token of at least 16 characters (surrounding
    /// whitespace and a final newline are not part of it).
    public static func load(path: String, requireRootOwner: Bool = true) throws(Problem) -> ApiToken {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            throw Problem(description: "api.token_file \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw Problem(description: "api.token_file \(path) is not a regular file")
        }
        if requireRootOwner, info.st_uid != 0 {
            throw Problem(description: "api.token_file \(path) is owned by uid \(info.st_uid), not root: `chown root \(path)`")
        }
        guard info.st_mode & 0o007 == 0 else {
            throw Problem(
                description:
                    "api.token_file \(path) is readable or writable by others (mode \(String(info.st_mode & 0o777, radix: 8))): `chmod 600 \(path)`"
            )
        }
        guard let data = FileManager.default.contents(atPath: path), data.count <= 4096 else {
            throw Problem(description: "api.token_file \(path) cannot be read, or is larger than 4 KiB")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.count >= 16, token.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw Problem(description: "api.token_file \(path) must hold one token of at least 16 printable ASCII characters")
        }
        return ApiToken(token)
    }

    /// Whether an `Authorization` header carries this token as `Bearer TOKEN`. The comparison
    /// takes the same time wherever the first difference is, so timing tells nothing about the token.
    public func accepts(authorization: String?) -> Bool {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return false }
        return Self.constantTimeEqual(Array(authorization.utf8.dropFirst(7)), bytes)
    }

    /// Compares every byte of both (a length difference is folded in, not returned early).
    static func constantTimeEqual(_ left: [UInt8], _ right: [UInt8]) -> Bool {
        var difference = UInt64(left.count ^ right.count)
        let count = max(left.count, right.count)
        for index in 0..<count {
            let a = index < left.count ? left[index] : 0
            let b = index < right.count ? right[index] : 0
            difference |= UInt64(a ^ b)
        }
        return difference == 0
    }
}
