import BraidConfig
import Testing

/// Text that is not YAML, or is YAML with nothing in it: `ConfigError.syntax` with the line
/// the parser stopped at, or the empty-config issue.
@Suite struct SyntaxErrorTests {
    /// Text the YAML parser rejects, and the line its error should point at.
    struct SyntaxErrorCase: Sendable, CustomTestStringConvertible {
        let problem: String
        let yaml: String
        let expectedLine: Int
        var testDescription: String { problem }
    }

    static let syntaxErrorCases: [SyntaxErrorCase] = [
        SyntaxErrorCase(
            problem: "unclosed flow list",
            yaml: """
                lan:
                  interfaces: [lan0
                wans:
                  - name: isp1
                """, expectedLine: 3),
        SyntaxErrorCase(
            problem: "key indented less than its siblings",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                   gateway: 192.0.2.1
                """, expectedLine: 6),
        SyntaxErrorCase(
            problem: "unclosed double quote",
            yaml: """
                lan:
                  interfaces: ["lan0]
                """, expectedLine: 2),
        // Yams reports a duplicate key at its first occurrence, not at the repeat.
        SyntaxErrorCase(
            problem: "duplicate key in a WAN",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                    gateway: 192.0.2.2
                """, expectedLine: 6),
        SyntaxErrorCase(
            problem: "duplicate top-level key",
            yaml: """
                lan:
                  interfaces: [lan0]
                wans:
                  - name: isp1
                    interface: wan1
                    gateway: 192.0.2.1
                lan:
                  interfaces: [lan1]
                """, expectedLine: 1),
    ]

    @Test(arguments: syntaxErrorCases)
    func syntaxErrorCarriesALine(_ syntaxCase: SyntaxErrorCase) throws {
        let error = try #require(rejection(of: syntaxCase.yaml))
        guard case .syntax(let message, let line) = error else {
            Issue.record("expected ConfigError.syntax, got \(error)")
            return
        }
        #expect(line == syntaxCase.expectedLine, "message: \(message)")
        #expect(!message.isEmpty)
        #expect(error.description.contains("line \(syntaxCase.expectedLine)"))
        #expect(error.issues.map(\.line) == [syntaxCase.expectedLine])
    }

    @Test func duplicateKeyMessageNamesTheKey() throws {
        let error = try #require(
            rejection(
                of: """
                    lan:
                      interfaces: [lan0]
                      interfaces: [lan1]
                    wans: []
                    """))
        guard case .syntax(let message, _) = error else {
            Issue.record("expected ConfigError.syntax, got \(error)")
            return
        }
        #expect(message == "duplicate key interfaces")
    }

    @Test(arguments: ["", "\n\n", "# nothing configured yet\n"])
    func emptyDocumentAsksForLanAndWans(_ text: String) throws {
        let error = try #require(rejection(of: text))
        guard case .invalid(let issues) = error else {
            Issue.record("expected ConfigError.invalid, got \(error)")
            return
        }
        let issue = try #require(issues.first)
        #expect(issues.count == 1)
        #expect(issue.path.isEmpty)
        #expect(issue.message.contains("lan") && issue.message.contains("wans"))
    }

    @Test(arguments: ["---\n", "just some words\n", "- lan0\n- wan1\n"])
    func documentThatIsNotAMappingIsRejectedAtItsRoot(_ text: String) throws {
        let error = try #require(rejection(of: text))
        guard case .invalid(let issues) = error else {
            Issue.record("expected ConfigError.invalid, got \(error)")
            return
        }
        #expect(issues.map(\.path) == [""])
        #expect(issues.first?.message.contains("expected a mapping") == true)
    }
}
