import Foundation
import Testing

/// Compares text against a golden file in `Golden/`, or re-records the file when the
/// environment variable `BRAID_RECORD_GOLDEN=1` is set.
///
/// Comparison reads the copy SwiftPM bundles with the tests (`Bundle.module`); recording writes
/// to the source tree next to this file, so the new files show up in `git diff`.
enum GoldenFile {
    static let recordVariable = "BRAID_RECORD_GOLDEN"

    static var isRecording: Bool { ProcessInfo.processInfo.environment[recordVariable] == "1" }

    /// `Tests/BraidPlannerTests/Golden` in the source tree.
    static let sourceDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Golden", isDirectory: true)

    /// How many differing lines the failure message shows before it stops.
    static let maximumReportedDifferences = 40

    static func check(_ actual: String, against fileName: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        if isRecording {
            let url = sourceDirectory.appendingPathComponent(fileName)
            try FileManager.default.createDirectory(at: sourceDirectory, withIntermediateDirectories: true)
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        guard let directory = Bundle.module.url(forResource: "Golden", withExtension: nil),
            let expected = try? String(contentsOf: directory.appendingPathComponent(fileName), encoding: .utf8)
        else {
            Issue.record(
                "no golden file Golden/\(fileName); record it with \(recordVariable)=1 swift test --filter BraidPlannerTests",
                sourceLocation: sourceLocation)
            return
        }
        guard expected != actual else { return }
        Issue.record(
            """
            output differs from Golden/\(fileName) (- golden, + actual); if the change is intended, \
            re-record with \(recordVariable)=1 and review the diff:
            \(lineDifference(expected: expected, actual: actual))
            """, sourceLocation: sourceLocation)
    }

    /// A unified-style line diff: hunks headed `@@ -golden +actual @@`, lines prefixed with
    /// ` ` (same), `-` (only in the golden file) or `+` (only in the actual output), each with
    /// its line number. Built from a longest common subsequence, which is plenty fast for files
    /// of a few hundred lines.
    static func lineDifference(expected: String, actual: String, context: Int = 2) -> String {
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let operations = editScript(from: expectedLines, to: actualLines)

        let changed = operations.indices.filter { operations[$0].kind != .same }
        guard !changed.isEmpty else { return "(the files differ only in line endings or encoding)" }
        var shown = Set<Int>()
        for index in changed {
            for neighbour in max(0, index - context)...min(operations.count - 1, index + context) { shown.insert(neighbour) }
        }
        var output: [String] = []
        var differencesReported = 0
        var previous: Int?
        for index in shown.sorted() {
            let operation = operations[index]
            if previous.map({ $0 + 1 != index }) ?? true {
                output.append("@@ -\(operation.expectedLine) +\(operation.actualLine) @@")
            }
            previous = index
            switch operation.kind {
            case .same:
                output.append(String(format: "  %4d %4d | ", operation.expectedLine, operation.actualLine) + operation.text)
            case .removed: output.append(String(format: "- %4d      | ", operation.expectedLine) + operation.text)
            case .added: output.append(String(format: "+      %4d | ", operation.actualLine) + operation.text)
            }
            if operation.kind != .same {
                differencesReported += 1
                if differencesReported == maximumReportedDifferences {
                    output.append("… \(changed.count - differencesReported) more differing lines not shown")
                    break
                }
            }
        }
        return output.joined(separator: "\n")
    }

    struct LineOperation {
        enum Kind { case same, removed, added }
        var kind: Kind
        var text: String
        /// 1-based line numbers; for an added line `expectedLine` is where it would go, and vice versa.
        var expectedLine: Int
        var actualLine: Int
    }

    static func editScript(from expected: [String], to actual: [String]) -> [LineOperation] {
        let expectedCount = expected.count, actualCount = actual.count
        // commonLength[e][a] is the length of the longest common subsequence of expected[e...] and actual[a...].
        var commonLength = Array(repeating: Array(repeating: 0, count: actualCount + 1), count: expectedCount + 1)
        for expectedIndex in stride(from: expectedCount - 1, through: 0, by: -1) {
            for actualIndex in stride(from: actualCount - 1, through: 0, by: -1) {
                commonLength[expectedIndex][actualIndex] =
                    expected[expectedIndex] == actual[actualIndex]
                    ? commonLength[expectedIndex + 1][actualIndex + 1] + 1
                    : max(commonLength[expectedIndex + 1][actualIndex], commonLength[expectedIndex][actualIndex + 1])
            }
        }
        var operations: [LineOperation] = []
        var expectedIndex = 0, actualIndex = 0
        while expectedIndex < expectedCount || actualIndex < actualCount {
            if expectedIndex < expectedCount, actualIndex < actualCount, expected[expectedIndex] == actual[actualIndex] {
                operations.append(
                    LineOperation(
                        kind: .same, text: expected[expectedIndex], expectedLine: expectedIndex + 1, actualLine: actualIndex + 1))
                expectedIndex += 1
                actualIndex += 1
            } else if expectedIndex < expectedCount,
                actualIndex == actualCount
                    || commonLength[expectedIndex + 1][actualIndex] >= commonLength[expectedIndex][actualIndex + 1]
            {
                operations.append(
                    LineOperation(
                        kind: .removed, text: expected[expectedIndex], expectedLine: expectedIndex + 1,
                        actualLine: actualIndex + 1))
                expectedIndex += 1
            } else {
                operations.append(
                    LineOperation(
                        kind: .added, text: actual[actualIndex], expectedLine: expectedIndex + 1, actualLine: actualIndex + 1))
                actualIndex += 1
            }
        }
        return operations
    }
}
