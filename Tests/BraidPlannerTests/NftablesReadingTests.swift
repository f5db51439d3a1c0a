import BraidPlanner
import Testing

/// Braid keeps only the text of the table it loaded; reading that text back gives the same
/// objects, so a later transaction can be built from them.
@Suite struct NftablesReadingTests {
    @Test(arguments: GoldenScenario.all)
    func everyGoldenRulesetReadsBackToTheSameText(_ scenario: GoldenScenario) throws {
        let ruleset = try plan(scenario.yaml, linksDown: scenario.linksDown, lanAddresses: true).ruleset
        let text = ruleset.render()
        let read = try #require(NftablesRuleset(parsing: text))
        #expect(read.render() == text)
        #expect(read.objects.map(\.name) == ruleset.objects.map(\.name))
        #expect(read.chains.map(\.hook) == ruleset.chains.map(\.hook))
    }

    @Test func baseChainDeclarationsReadBack() {
        for declaration in [
            "type filter hook prerouting priority mangle; policy accept;",
            "type nat hook output priority -100; policy accept;",
            "type route hook output priority 5; policy drop;",
        ] {
            #expect(NftablesBaseChain(declaration: declaration)?.declaration == declaration)
        }
        #expect(
            NftablesBaseChain(declaration: "type filter hook prerouting priority mangle; policy accept;")?.priority.value == -150)
        #expect(NftablesBaseChain(declaration: "type filter hook ingress priority 0; policy accept;") == nil)
        #expect(NftablesBaseChain(declaration: "type filter hook input priority sideways; policy accept;") == nil)
    }

    @Test func otherTextIsNotRead() {
        // The kernel's own listing shows counter values and a different layout.
        #expect(NftablesRuleset(parsing: "table inet braid {\n\tcounter rx {\n\t\tpackets 0 bytes 0\n\t}\n}\n") == nil)
        #expect(
            NftablesRuleset(
                parsing: "table inet braid {\n\tchain c {\n\t\ttype filter hook nowhere priority 0; policy accept;\n\t}\n}\n")
                == nil)
        #expect(
            NftablesRuleset(parsing: "table inet braid {\n\tmap m {\n\t\ttype mark : verdict\n\t\tflags constant\n\t}\n}\n")
                == nil)
    }
}
