import ArgumentParser
import BraidKernel

/// `braid down`: removes everything Braid installed and restores the sysctls it changed.
struct Down: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove everything Braid installed and restore the sysctls.")

    @OptionGroup var state: StateOptions

    func run() throws {
        try requireRoot("down")
        let applier = makeApplier(state)
        do {
            let steps = try applier.down()
            for step in steps { print("  \(step)") }
            print(steps.isEmpty ? "Braid is not installed: nothing to remove" : "removed Braid (\(steps.count) change(s))")
        } catch {
            throw exitStatus(for: error)
        }
    }
}
