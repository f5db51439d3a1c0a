import BraidConfig
import BraidKernelFake
import BraidPlanner
import Testing

@testable import BraidApply
@testable import BraidKernel

/// When Braid trusts its nft table without listing it, when it lists and compares, and when it
/// reloads only to be sure, against the fake kernel's generation counter.
@Suite struct TableVerificationTests {
    static func kernelWithTable(_ text: String = "table inet braid {\n}\n") -> FakeKernel {
        let kernel = FakeKernel(interfaces: [])
        kernel.commitForeignTransaction { $0 = text }
        return kernel
    }

    @Test func anUnchangedGenerationIsTrustedWithoutListing() throws {
        let kernel = Self.kernelWithTable()
        let generation = try kernel.readRulesetGeneration()
        // A recorded digest that does not even match: with the generation unchanged, it is not looked at.
        let result = try TableVerification.check(
            kernel: kernel, generation: generation, recordedGeneration: generation, recordedDigest: "stale")
        #expect(result.intact && !result.unverifiable)
        #expect(result.verified?.digest == "stale")
    }

    @Test func aMovedGenerationListsAndComparesWithTheRecordedDigest() throws {
        let kernel = Self.kernelWithTable()
        let digest = StableDigest.of([try #require(try kernel.readTableListing())])
        let recorded = try kernel.readRulesetGeneration()
        kernel.commitForeignTransaction()
        let now = try kernel.readRulesetGeneration()
        let same = try TableVerification.check(
            kernel: kernel, generation: now, recordedGeneration: recorded, recordedDigest: digest)
        #expect(same.intact && same.verified?.generation == now)
        kernel.commitForeignTransaction { $0 = "table inet braid {\n\tchain extra {\n\t}\n}\n" }
        let changed = try TableVerification.check(
            kernel: kernel, generation: try kernel.readRulesetGeneration(),
            recordedGeneration: recorded, recordedDigest: digest)
        #expect(!changed.intact && !changed.unverifiable)
    }

    @Test func aMovedGenerationBeforeAnyDigestMeansReloadToBeSure() throws {
        let kernel = Self.kernelWithTable()
        let recorded = try kernel.readRulesetGeneration()
        kernel.commitForeignTransaction()
        let result = try TableVerification.check(
            kernel: kernel, generation: try kernel.readRulesetGeneration(),
            recordedGeneration: recorded, recordedDigest: nil)
        #expect(!result.intact && result.unverifiable)
    }

    @Test func afterLoadRecordsNothingWhenAnotherTransactionCameInBetween() throws {
        let kernel = Self.kernelWithTable()
        let before = try kernel.readRulesetGeneration()
        kernel.commitForeignTransaction()  // Braid's load…
        let clean = try TableVerification.afterLoad(kernel: kernel, generationBefore: before, ruleset: NftablesRuleset())
        #expect(clean.generation == before + 1 && clean.digest != nil)
        kernel.commitForeignTransaction()  // …and someone else's right after it
        let raced = try TableVerification.afterLoad(kernel: kernel, generationBefore: before, ruleset: NftablesRuleset())
        #expect(raced.generation == nil && raced.digest == nil)
    }
}
