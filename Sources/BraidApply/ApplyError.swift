import BraidKernel
import BraidPlanner

/// Why `apply` or `down` did not complete, and what state the kernel was left in.
public enum ApplyError: Error, Sendable, CustomStringConvertible {
    /// The config cannot be planned on this host; nothing was changed.
    case plan(PlanError)
    /// Reading the kernel failed before anything was changed.
    case kernel(KernelError)
    /// A step failed; the steps done before it were undone (`rollbackFailures` lists any undo that failed too).
    case stepFailed(step: KernelStep, error: KernelError, rollbackFailures: [String])
    /// Every step ran but the kernel does not hold what was asked for.
    case verificationFailed([KernelStep])
    /// `down` removed what it could; these parts failed.
    case incompleteRemoval([String])
    /// Another Braid command is changing the kernel (or the lock could not be taken); nothing was changed.
    case locked(StateLockError)
    /// The config's mark mask differs from the installed one and connections carry the old marks;
    /// nothing was changed (see `MarkRenumbering`).
    case markMaskChanged(MarkRenumbering)

    public var description: String {
        switch self {
        case .plan(let error):
            return error.description
        case .kernel(let error):
            return "\(error)\nnothing was changed"
        case .stepFailed(let step, let error, let rollbackFailures):
            let outcome =
                rollbackFailures.isEmpty
                ? "every earlier step was undone; the kernel is as it was before"
                : "undoing earlier steps also failed, the kernel may be partly changed:\n  "
                    + rollbackFailures.joined(separator: "\n  ")
                    + "\nrun `braid apply` again (it reads what is installed and converges), or `braid down` to remove everything Braid installed"
            return "apply failed at step \"\(step)\": \(error)\n\(outcome)"
        case .verificationFailed(let remaining):
            return "after apply the kernel still differs from the plan: " + remaining.map(\.description).joined(separator: "; ")
        case .incompleteRemoval(let failures):
            return "down could not remove everything:\n  " + failures.joined(separator: "\n  ")
        case .locked(let error):
            return "\(error)\nnothing was changed"
        case .markMaskChanged(let renumbering):
            return "\(renumbering.refusal)\nnothing was changed"
        }
    }
}
