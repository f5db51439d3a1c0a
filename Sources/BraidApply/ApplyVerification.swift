import BraidConfig
import BraidKernel
import BraidPlanner

extension GatewayApplier {
    /// Reads the kernel back after the steps and records what was installed: an apply that the
    /// kernel silently did not take (a route it dropped, a sysctl reset) fails here rather than
    /// being recorded as done. Returns the state saved.
    @discardableResult
    func verifyAndRecord(
        _ diff: ApplyDiff, observed observation: ApplyObservation, config: Config,
        warnings: inout [String]
    ) throws(ApplyError) -> AppliedState {
        let desired = diff.target.desired
        var state = diff.stateToRecord
        do {
            let after = try kernel.readState(layout: config.kernel)
            let sysctls = try kernel.readSysctls(desired.sysctls.map(\.key))
            let remaining = Self.remainingSteps(after: after, sysctls: sysctls, desired: desired)
            guard remaining.isEmpty else { throw ApplyError.verificationFailed(remaining) }
            state.rulesetFingerprint = after.table?.fingerprint
            let record =
                diff.loadsRuleset
                ? try TableVerification.afterLoad(
                    kernel: kernel, generationBefore: observation.generation, ruleset: desired.ruleset)
                : observation.verification.record(keeping: observation.stored)
            state.rulesetGeneration = record.generation
            state.tableDigest = record.digest
        } catch let error as ApplyError {
            throw error
        } catch let error as KernelError {
            throw .kernel(error)
        } catch {
            throw .kernel(.unexpected("\(error)"))
        }
        do { try store.save(state) } catch { warnings.append(error.description) }
        return state
    }

    /// What the kernel still lacks of `desired` after the steps: nothing when the apply took.
    /// A missing or extra chain counts as the table not loaded.
    static func remainingSteps(after: ObservedKernelState, sysctls: [String: String], desired: DesiredState) -> [KernelStep] {
        var remaining = KernelChangeSet.steps(from: after, to: desired, sysctls: sysctls, rulesetUnchanged: true)
        if Set(after.table?.chains ?? []) != Set(desired.ruleset.chains.map(\.name)) {
            remaining.append(.loadRuleset(transaction: NftTransaction(), undo: nil))
        }
        return remaining
    }
}
