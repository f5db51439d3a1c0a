import Foundation
import Testing

@testable import BraidApply

/// The loaded table is kept beside state.json in a file of its own, named from it.
@Suite struct RulesetSourceFileTests {
    let directory = NSTemporaryDirectory() + "braid-ruleset-file-test-\(UUID().uuidString)"

    func rulesetFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("ruleset-") }.sorted()
    }

    @Test func theTableIsKeptOutsideTheJSONAndOnlyTheCurrentFileRemains() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let mine = AppliedStateStore(directory: directory)
        let first = "table inet braid {\n\tchain a {\n\t}\n}\n"
        try mine.save(AppliedState(originalSysctls: ["a": "1"], rulesetSource: first))
        let json = try String(contentsOfFile: mine.path, encoding: .utf8)
        #expect(!json.contains("chain a"))
        let files = try rulesetFiles()
        #expect(files.count == 1)
        #expect(json.contains(files[0]))
        #expect(try String(contentsOfFile: directory + "/" + files[0], encoding: .utf8) == first)
        // Another process reads it back whole.
        #expect(AppliedStateStore(directory: directory).load() == AppliedState(originalSysctls: ["a": "1"], rulesetSource: first))

        // The same table again: the same file, not rewritten.
        try mine.save(AppliedState(originalSysctls: ["a": "2"], rulesetSource: first))
        #expect(try rulesetFiles() == files)
        // Another table: a new file, and the old one is gone.
        let second = first.replacingOccurrences(of: "chain a", with: "chain b")
        try mine.save(AppliedState(originalSysctls: ["a": "2"], rulesetSource: second))
        let replaced = try rulesetFiles()
        #expect(replaced.count == 1 && replaced != files)
        #expect(AppliedStateStore(directory: directory).load()?.rulesetSource == second)
        // No table: no file.
        try mine.save(AppliedState(originalSysctls: ["a": "2"]))
        #expect(try rulesetFiles().isEmpty)
        try mine.save(AppliedState(rulesetSource: first))
        try mine.remove()
        #expect(try rulesetFiles().isEmpty)
    }

    @Test func aMissingFileLeavesTheTableUnknownAndTheRestIntact() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try AppliedStateStore(directory: directory).save(AppliedState(originalSysctls: ["a": "1"], rulesetSource: "x\n"))
        for file in try rulesetFiles() { try FileManager.default.removeItem(atPath: directory + "/" + file) }
        let state = AppliedStateStore(directory: directory).load()
        #expect(state?.originalSysctls == ["a": "1"])
        #expect(state?.rulesetSource == nil)
    }

    @Test func aNameOutsideTheStateDirectoryIsNotFollowed() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = AppliedStateStore(directory: directory)
        try store.save(AppliedState(originalSysctls: ["a": "1"]))
        try "secret\n".write(toFile: directory + "/other.nft", atomically: false, encoding: .utf8)
        var json = try String(contentsOfFile: store.path, encoding: .utf8)
        let outside = "../\(URL(fileURLWithPath: directory).lastPathComponent)/other.nft"
        json.replaceSubrange(json.range(of: "{")!, with: "{ \"rulesetSourceFile\": \"\(outside)\",")
        try json.write(toFile: store.path, atomically: false, encoding: .utf8)
        let state = AppliedStateStore(directory: directory).load()
        #expect(state?.originalSysctls == ["a": "1"])
        #expect(state?.rulesetSource == nil)
    }

    /// A state.json from before the split, with the table inline, still reads.
    @Test func anEarlierStateFileWithTheTableInlineReads() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let earlier = #"{"originalSysctls":{"a":"1"},"rulesetSource":"table inet braid {\n}\n"}"#
        try earlier.write(toFile: directory + "/state.json", atomically: false, encoding: .utf8)
        #expect(AppliedStateStore(directory: directory).load() == AppliedState(originalSysctls: ["a": "1"], rulesetSource: "table inet braid {\n}\n"))
    }

    @Test func namesAreCheckedBeforeUse() {
        #expect(RulesetSourceFile.isValidName(RulesetSourceFile.newName()))
        #expect(!RulesetSourceFile.isValidName("ruleset-.nft"))
        #expect(!RulesetSourceFile.isValidName("ruleset-../x.nft"))
        #expect(!RulesetSourceFile.isValidName("state.json"))
    }
}
