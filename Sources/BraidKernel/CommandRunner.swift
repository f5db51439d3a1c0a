import Foundation

/// Runs an external program with an argv array (never through a shell) and captures its output.
/// The kernel port runs `nft`, `sysctl` and `conntrack` only through this (rules and routes are
/// rtnetlink requests, made in `withinNetworkNamespace`).
public protocol CommandRunner: Sendable {
    func run(_ arguments: [String], input: String?) throws(KernelError) -> CommandResult
    /// Runs `body` in the network namespace the programs run in, for the kernel port's few
    /// direct netlink requests.
    func withinNetworkNamespace<Result: Sendable>(_ body: @escaping @Sendable () -> Result) throws(KernelError) -> Result
    /// Runs an nft script as one transaction, as `nft -f -` reads it from standard input.
    func runNftScript(_ script: String) throws(KernelError) -> CommandResult
}

extension CommandRunner {
    /// Programs run in this process's namespace unless a runner says otherwise.
    public func withinNetworkNamespace<Result: Sendable>(_ body: @escaping @Sendable () -> Result) throws(KernelError) -> Result {
        body()
    }

    public func run(_ arguments: [String]) throws(KernelError) -> CommandResult {
        try run(arguments, input: nil)
    }

    /// The nft program, unless a runner says otherwise.
    public func runNftScript(_ script: String) throws(KernelError) -> CommandResult {
        try run(Self.nftScriptArguments, input: script)
    }

    /// How an nft script is run, and named in errors, whether or not a program runs.
    public static var nftScriptArguments: [String] { ["nft", "-f", "-"] }

    /// `runNftScript`, throwing `KernelError.commandFailed` when nft refuses the script.
    @discardableResult
    public func checkNftScript(_ script: String) throws(KernelError) -> String {
        let result = try runNftScript(script)
        guard result.status == 0 else {
            throw .commandFailed(arguments: Self.nftScriptArguments, status: result.status, standardError: result.standardError)
        }
        return result.standardOutput
    }

    /// Runs and throws `KernelError.commandFailed` on a non-zero exit.
    @discardableResult
    public func check(_ arguments: [String], input: String? = nil) throws(KernelError) -> String {
        let result = try run(arguments, input: input)
        guard result.status == 0 else {
            throw .commandFailed(arguments: arguments, status: result.status, standardError: result.standardError)
        }
        return result.standardOutput
    }
}

/// What a finished program left behind.
public struct CommandResult: Sendable, Equatable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String

    public init(status: Int32, standardOutput: String, standardError: String) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
    }
}

/// Runs programs in this process's network namespace, found on the usual sbin/bin paths.
public struct ProcessCommandRunner: CommandRunner {
    public init() {}

    /// Through the braid-nft-session helper (`NftSession`) when it is installed and the calling
    /// thread is in the helper's namespace; else the nft program.
    public func runNftScript(_ script: String) throws(KernelError) -> CommandResult {
        if let result = NftSession.forThisProcess.run(script) { return result }
        return try run(Self.nftScriptArguments, input: script)
    }

    static let searchPath = ["/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"]

    /// The path of `program` on the search path, nil when it is not installed.
    static func locate(_ program: String) -> String? {
        searchPath.map { "\($0)/\(program)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    public func run(_ arguments: [String], input: String?) throws(KernelError) -> CommandResult {
        guard let program = arguments.first else {
            throw .commandFailed(arguments: arguments, status: -1, standardError: "empty command")
        }
        let executable: String
        if program.hasPrefix("/") {
            executable = program
        } else {
            guard let found = Self.locate(program) else { throw .missingProgram(program) }
            executable = found
        }
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: executable, arguments: arguments, withInput: input != nil)
        } catch {
            throw .commandFailed(arguments: arguments, status: -1, standardError: "could not start: \(error)")
        }
        // Drain both pipes while the program runs so a large listing cannot fill a pipe and stall it;
        // feed the input from another thread for the same reason.
        let output = PipeDrain(child.outputDescriptor)
        let errors = PipeDrain(child.errorDescriptor!)
        if let input {
            let bytes = Array(input.utf8)
            Thread.detachNewThread { child.writeInputAndClose(bytes) }
        }
        let status = child.wait()
        return CommandResult(status: status, standardOutput: output.finish(), standardError: errors.finish())
    }
}

/// Reads a pipe to its end on a background thread.
private final class PipeDrain: @unchecked Sendable {
    private var data: [UInt8] = []
    private let done = DispatchSemaphore(value: 0)

    init(_ descriptor: Int32) {
        Thread.detachNewThread { [self] in
            data = ChildProcess.readAll(descriptor)
            done.signal()
        }
    }

    func finish() -> String {
        done.wait()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Runs every program inside a named network namespace (`ip netns exec NAME …`): how the lab and
/// the demo drive a Braid router that lives in a namespace.
public struct NamespacedCommandRunner: CommandRunner {
    public let namespace: String
    let base: any CommandRunner

    /// The namespace's own braid-nft-session helper, when asked for one; shared by copies of this runner.
    let nftSession: NftSession?
    /// A thread kept in the namespace for netlink requests, when asked for one; shared likewise.
    let worker: NamespaceWorker?

    /// `keepsNftSession`: run nft scripts through a braid-nft-session helper started in the
    /// namespace (the way the daemon runs them), instead of `ip netns exec … nft -f -` each time.
    /// `keepsNamespaceThread`: run netlink requests on one thread kept in the namespace
    /// (`NamespaceWorker`), instead of a new thread entering it for each. Both live until the last
    /// copy of this runner goes, and keep the namespace alive meanwhile: for benchmarks, which
    /// hold a runner for as long as the namespace.
    public init(
        namespace: String, base: any CommandRunner = ProcessCommandRunner(), keepsNftSession: Bool = false,
        keepsNamespaceThread: Bool = false
    ) {
        self.namespace = namespace
        self.base = base
        self.nftSession = keepsNftSession ? NftSession.inNamespace(namespace) : nil
        self.worker = keepsNamespaceThread ? NamespaceWorker(namespace: namespace) : nil
    }

    public func runNftScript(_ script: String) throws(KernelError) -> CommandResult {
        if let result = nftSession?.run(script) { return result }
        return try run(Self.nftScriptArguments, input: script)
    }

    public func withinNetworkNamespace<Result: Sendable>(_ body: @escaping @Sendable () -> Result) throws(KernelError) -> Result {
        if let worker { return try worker.run(body) }
        do { return try NamespaceThread.runBlocking(in: namespace) { body() } } catch let error as KernelError {
            throw error
        } catch {
            throw .namespace("\(error)")
        }
    }

    public func run(_ arguments: [String], input: String?) throws(KernelError) -> CommandResult {
        var result = try base.run(["ip", "netns", "exec", namespace] + arguments, input: input)
        if result.status != 0, result.standardError.contains("Cannot open network namespace") {
            result.standardError = "network namespace \(namespace) does not exist"
        }
        return result
    }
}

