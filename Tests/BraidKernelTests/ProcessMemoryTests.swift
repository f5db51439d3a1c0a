import BraidKernel
import Foundation
import Testing

/// Unmapping this process's code pages: its file-backed RSS falls, and the code still runs (the
/// pages come back from the page cache on their next use).
@Suite struct ProcessMemoryTests {
    @Test func codePagesLeaveTheRSSAndComeBackWhenUsed() throws {
        let before = try Self.rssFileKB()
        let advised = try ProcessMemory.releaseCodePages()
        let after = try Self.rssFileKB()
        #expect(advised > 1_000_000, "only \(advised) bytes of code mappings")
        #expect(after < before, "RssFile \(before) kB before, \(after) kB after")
        // Code runs again after it: formatting, JSON and the test machinery itself.
        let text = String(decoding: try JSONEncoder().encode(["after": after]), as: UTF8.self)
        #expect(text.contains("after"))
    }

    static func rssFileKB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("RssFile:") })
        return try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
    }
}
