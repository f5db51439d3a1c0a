import BraidApply
import BraidKernel
import BraidPlanner
import Synchronization
import Testing

/// What `LinuxKernel` hands `nft -f -` for a typed transaction: the text of today's loads, so
/// what the kernel reads is what `braid plan` prints.
@Suite struct LinuxKernelNftTests {
    /// Records each command and its standard input; every command succeeds.
    final class RecordingRunner: CommandRunner {
        private let calls = Mutex<[(arguments: [String], input: String?)]>([])
        var inputs: [String?] { calls.withLock { $0.map(\.input) } }
        var commands: [[String]] { calls.withLock { $0.map(\.arguments) } }

        func run(_ arguments: [String], input: String?) throws(KernelError) -> CommandResult {
            calls.withLock { $0.append((arguments, input)) }
            return CommandResult(status: 0, standardOutput: "", standardError: "")
        }
    }

    static let ruleset = NftablesRuleset(
        maps: [NftablesMap(name: "m", type: "type mark : verdict", elements: [("1", "goto a")])],
        chains: [
            NftablesChain(
                name: "pre", hook: NftablesBaseChain(type: .filter, hook: .prerouting, priority: .mangle),
                rules: [NftablesRule("meta mark vmap @m")]),
            NftablesChain(name: "a", rules: [NftablesRule("accept")]),
        ])

    @Test func aFirstLoadIsAddTableAndTheRenderedTable() throws {
        let runner = RecordingRunner()
        try LinuxKernel(runner: runner).perform(
            .loadRuleset(transaction: KernelChangeSet.transaction(replacing: nil, with: Self.ruleset), undo: nil))
        #expect(runner.commands == [["nft", "-f", "-"]])
        #expect(runner.inputs == ["add table inet braid\n" + Self.ruleset.render()])
    }

    @Test func aReloadDeletesWhatThereIsThenDeclaresTheTable() throws {
        let runner = RecordingRunner()
        let existing = ObservedTable(
            counters: ["rx_gone"], maps: ["m"], sets: ["dst_old"], chains: ["pre", "a"], fingerprint: "")
        try LinuxKernel(runner: runner).perform(
            .loadRuleset(transaction: KernelChangeSet.transaction(replacing: existing, with: Self.ruleset), undo: nil))
        #expect(
            runner.inputs == [
                """
                add table inet braid
                flush table inet braid
                delete map inet braid m
                delete set inet braid dst_old
                delete chain inet braid pre
                delete chain inet braid a
                delete counter inet braid rx_gone

                """ + Self.ruleset.render()
            ])
    }

    @Test func deletingTheTableWorksWhetherOrNotItIsThere() throws {
        let runner = RecordingRunner()
        try LinuxKernel(runner: runner).perform(.deleteTable)
        #expect(runner.inputs == ["add table inet braid\ndelete table inet braid\n"])
    }

    @Test func anInPlaceUpdateFlushesThenRedeclaresOnlyWhatChanged() throws {
        var changed = Self.ruleset
        changed.chains[1].rules = [NftablesRule("drop")]
        let update = try #require(TableUpdate.inPlace(from: Self.ruleset.render(), to: changed.render()))
        let runner = RecordingRunner()
        try LinuxKernel(runner: runner).perform(.loadRuleset(transaction: update.transaction, undo: update.undo))
        #expect(runner.inputs == ["flush chain inet braid a\ntable inet braid {\n\n\tchain a {\n\t\tdrop\n\t}\n}\n"])
    }
}
