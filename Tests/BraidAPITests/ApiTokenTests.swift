import BraidAPI
import Foundation
import Testing

@Suite struct ApiTokenTests {
    static func file(_ text: String, mode: mode_t) throws -> String {
        let path = NSTemporaryDirectory() + "braid-token-\(UUID().uuidString)"
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        chmod(path, mode)
        return path
    }

    @Test func theRightBearerTokenIsAcceptedAndNothingElse() throws {
        let token = ApiToken("s3cret-token-0123456789")
        #expect(token.accepts(authorization: "Bearer s3cret-token-0123456789"))
        #expect(!token.accepts(authorization: nil))
        #expect(!token.accepts(authorization: "Bearer s3cret-token-012345678"), "a prefix")
        #expect(!token.accepts(authorization: "Bearer s3cret-token-01234567890"), "longer")
        #expect(!token.accepts(authorization: "Bearer S3cret-token-0123456789"))
        #expect(!token.accepts(authorization: "Basic s3cret-token-0123456789"))
        #expect(!token.accepts(authorization: "s3cret-token-0123456789"))
        #expect(!token.accepts(authorization: "Bearer "))
    }

    @Test func aTokenFileOthersCanReadIsRefusedAndSaysHowToFixIt() throws {
        let path = try Self.file("abcdefghijklmnopqrstuvwxyz\n", mode: 0o644)
        #expect(throws: ApiToken.Problem.self) { try ApiToken.load(path: path, requireRootOwner: false) }
        do {
            _ = try ApiToken.load(path: path, requireRootOwner: false)
        } catch {
            #expect(error.description.contains("chmod 600"))
        }
        chmod(path, 0o600)
        let token = try ApiToken.load(path: path, requireRootOwner: false)
        #expect(token.accepts(authorization: "Bearer abcdefghijklmnopqrstuvwxyz"), "the final newline is not part of it")
    }

    @Test func aShortOrMissingTokenIsRefused() throws {
        #expect(throws: ApiToken.Problem.self) {
            try ApiToken.load(path: try Self.file("short\n", mode: 0o600), requireRootOwner: false)
        }
        #expect(throws: ApiToken.Problem.self) { try ApiToken.load(path: "/nonexistent/braid.token", requireRootOwner: false) }
    }

    @Test func aTokenFileNotOwnedByRootIsRefused() throws {
        let path = try Self.file("abcdefghijklmnopqrstuvwxyz\n", mode: 0o600)
        chown(path, 65534, 65534)
        defer { unlink(path) }
        do {
            _ = try ApiToken.load(path: path)
            Issue.record("a token file owned by nobody was accepted")
        } catch {
            #expect(error.description.contains("not root"), "\(error)")
        }
    }
}
