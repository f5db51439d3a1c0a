import Foundation
import Testing

@testable import BraidApply

/// The state file is decoded again only when it changed since this process last wrote or read it.
@Suite struct StateFileStampTests {
    @Test func anotherWritersStateIsReadAndAnUnchangedFileIsNotDecodedAgain() throws {
        let directory = NSTemporaryDirectory() + "braid-stamp-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mine = AppliedStateStore(directory: directory)
        let other = AppliedStateStore(directory: directory)
        try mine.save(AppliedState(originalSysctls: ["a": "1"], rulesetSource: "table inet braid {\n}\n"))
        #expect(mine.load()?.originalSysctls == ["a": "1"])
        // Another process (its own memory) replaces the file: this one sees the new content.
        try other.save(AppliedState(originalSysctls: ["a": "2"]))
        #expect(mine.load()?.originalSysctls == ["a": "2"])
        // A hand edit in place (same inode) is seen too.
        let edited = try String(contentsOfFile: mine.path, encoding: .utf8).replacingOccurrences(of: "\"2\"", with: "\"3\"")
        try edited.write(toFile: mine.path, atomically: false, encoding: .utf8)
        #expect(mine.load()?.originalSysctls == ["a": "3"])
        // Unchanged since that read: the remembered state, without reading the file.
        #expect(mine.load()?.originalSysctls == ["a": "3"])
        try mine.remove()
        #expect(mine.load() == nil)
    }
}
