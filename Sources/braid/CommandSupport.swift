import ArgumentParser
import BraidApply
import BraidConfig
import BraidKernel
import BraidPlanner
import Foundation

/// Exit statuses: 2 for input the user must fix, 1 for the kernel refusing.
enum ExitStatus {
    static let invalidInput = ExitCode(2)
    static let kernelFailure = ExitCode(1)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data(("error: " + message.replacingOccurrences(of: "\n", with: "\nerror: ") + "\n").utf8))
}

func printWarning(_ message: String) {
    FileHandle.standardError.write(Data(("warning: " + message + "\n").utf8))
}

/// Loads the config or exits with status 2 and every problem listed.
func loadConfig(_ options: ConfigOptions) throws -> Config { try loadConfig(path: options.config) }

func loadConfig(path: String) throws -> Config {
    do {
        return try ConfigLoader.load(path: path)
    } catch {
        printError("\(path): " + (error.issues.count > 1 ? "\(error.issues.count) problems" : "invalid"))
        printError(error.description)
        throw ExitStatus.invalidInput
    }
}

/// Maps an apply/down failure to its message and exit status.
func exitStatus(for error: ApplyError) -> ExitCode {
    printError(error.description)
    if case .plan = error { return ExitStatus.invalidInput }
    return ExitStatus.kernelFailure
}

func requireRoot(_ command: String) throws {
    if geteuid() != 0 {
        printError("`braid \(command)` changes the kernel and must run as root")
        throw ExitStatus.kernelFailure
    }
}

/// The applier the commands use: the real kernel, the state directory from `--state-dir`, and a
/// line on stderr while another Braid command holds the state directory's lock.
func makeApplier(_ state: StateOptions) -> GatewayApplier {
    var applier = GatewayApplier(kernel: LinuxKernel(), store: AppliedStateStore(directory: state.stateDirectory))
    let path = applier.store.changeLock.path
    applier.onLockWait = { holder in
        printWarning("waiting for \(holder.map { "process \($0)" } ?? "another Braid command"), which holds \(path)")
    }
    return applier
}
