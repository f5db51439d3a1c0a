import CBraidLinux
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// nft with one libnftables context kept open: the `braid-nft-session` helper program, started
/// once and fed script after script over a socket. An `nft -f -` process spends 15–20 ms starting
/// and reading the ruleset afresh before it sends anything, most of a weight change with a large
/// policy; the kept context sends the same transaction in a fraction of a millisecond, and notices
/// another program's change by the ruleset generation, as nft itself does.
///
/// The helper is a separate program, not a library in this process, because libnftables is
/// GPL-2.0 and Braid is Apache-2.0 (Sources/braid-nft-session/LICENSE). It is looked for beside
/// the running executable; when it is missing or will not start, `run` returns nil and the caller
/// runs the nft program, with the same text and the same errors. It runs in the network namespace
/// it was started in, and ends when the socket closes (this process exiting, even by SIGKILL).
public final class NftSession: Sendable {
    /// The helper, when one is running.
    private struct Running: Sendable {
        let pid: pid_t
        let socket: Int32
        /// The namespace the helper was started from, when callers must be in it too.
        let namespace: NetworkNamespaceIdentity?
    }

    private enum State: Sendable {
        case notStarted
        case running(Running)
        /// The helper is missing or refused to start: the nft program is used from then on.
        case unavailable
    }

    private let state = Mutex<State>(.notStarted)
    /// The argv that runs the helper (a namespace prefix, then the helper's path).
    private let launchArguments: @Sendable (String) -> [String]?
    /// Whether a caller must be in the namespace the helper was started from: true when the helper
    /// runs wherever the calling thread is (an nft process started from that thread would run
    /// there too), false when the launch arguments name the namespace.
    private let followsCaller: Bool

    /// `launchArguments` turns the helper's path into the argv to spawn (nil: cannot run here).
    init(followsCaller: Bool, launchArguments: @escaping @Sendable (String) -> [String]?) {
        self.followsCaller = followsCaller
        self.launchArguments = launchArguments
    }

    deinit {
        state.withLock { state in
            if case .running(let running) = state { Self.stop(running) }
        }
    }

    /// The process's session: the helper runs in this process's network namespace.
    static let forThisProcess = NftSession(followsCaller: true) { helper in [helper] }

    /// A session whose helper runs in the named namespace (`ip netns exec NAME helper`).
    static func inNamespace(_ name: String) -> NftSession {
        NftSession(followsCaller: false) { helper in
            ProcessCommandRunner.locate("ip").map { [$0, "netns", "exec", name, helper] }
        }
    }

    /// Where the helper is: beside the running executable (`.build/release/`, `/usr/local/bin/`).
    static let helperPath: String? = {
        guard let executable = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else {
            return nil
        }
        let path = URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent("braid-nft-session").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    /// The running helper's process id, for tests.
    var helperProcessID: pid_t? {
        state.withLock { state in
            if case .running(let running) = state { return running.pid }
            return nil
        }
    }

    /// Runs `script` as `nft -f -` would, as one transaction; nil when the helper is not available
    /// (run the nft program instead).
    func run(_ script: String) -> CommandResult? {
        state.withLock { state -> CommandResult? in
            // A helper found dead before it took the script (killed, or ended by an OOM while
            // idle) is replaced and the script sent again: nothing of it reached the kernel.
            for _ in 1...2 {
                let running: Running
                switch state {
                case .unavailable:
                    return nil
                case .running(let known):
                    if followsCaller, known.namespace != NetworkNamespaceIdentity.ofCallingThread() { return nil }
                    running = known
                case .notStarted:
                    guard let started = start() else {
                        state = .unavailable
                        return nil
                    }
                    running = started
                }
                switch Self.exchange(script, with: running) {
                case .answered(let result):
                    state = .running(running)
                    return result
                case .notSent:
                    Self.stop(running)
                    state = .notStarted
                case .lost(let reason):
                    // The helper took the script and died or broke the protocol: whether the
                    // transaction committed is not known. Say so, and let the caller read the
                    // kernel (Braid converges on what is installed). The next script starts a
                    // new helper.
                    Self.stop(running)
                    state = .notStarted
                    return CommandResult(
                        status: 1, standardOutput: "",
                        standardError: "braid-nft-session \(reason); the transaction may or may not have been committed")
                }
            }
            return CommandResult(
                status: 1, standardOutput: "", standardError: "braid-nft-session ended twice before it was sent the script")
        }
    }

    private func start() -> Running? {
        guard let helper = Self.helperPath, let arguments = launchArguments(helper), let executable = arguments.first
        else { return nil }
        var descriptors: [Int32] = [0, 0]
        guard braid_socketpair_cloexec(&descriptors) == 0 else { return nil }
        let (ours, theirs) = (descriptors[0], descriptors[1])
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, theirs, 0)
        posix_spawn_file_actions_adddup2(&actions, theirs, 1)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        close(theirs)
        guard result == 0 else {
            close(ours)
            return nil
        }
        let running = Running(pid: pid, socket: ours, namespace: followsCaller ? NetworkNamespaceIdentity.ofCallingThread() : nil)
        guard let greeting = Self.readLine(ours), greeting == "ready" else {
            Self.stop(running)
            return nil
        }
        return running
    }

    private enum Exchange {
        case answered(CommandResult)
        /// The helper was gone before it took the script.
        case notSent
        /// The helper took the script but gave no answer.
        case lost(String)
    }

    private static func exchange(_ script: String, with running: Running) -> Exchange {
        let bytes = Array(script.utf8)
        guard writeAll(Array("\(bytes.count)\n".utf8), to: running.socket) else { return .notSent }
        guard writeAll(bytes, to: running.socket) else { return .lost("ended while it was sent the script") }
        guard let header = readLine(running.socket) else { return .lost("ended before it answered") }
        let fields = header.split(separator: " ")
        guard fields.count == 2, let status = Int32(fields[0]), let length = Int(fields[1]), length >= 0 else {
            return .lost("answered \"\(header)\", not a status and a length")
        }
        guard let error = readExactly(length, from: running.socket) else { return .lost("ended in the middle of its answer") }
        return .answered(CommandResult(status: status, standardOutput: "", standardError: String(decoding: error, as: UTF8.self)))
    }

    private static func stop(_ running: Running) {
        // Closing the socket ends the helper (end of input); kill covers one stuck in the kernel.
        close(running.socket)
        kill(running.pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(running.pid, &status, 0) < 0 && errno == EINTR {}
    }

    private static func writeAll(_ bytes: [UInt8], to socket: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { send(socket, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// One line without its newline; nil at end of input or past 256 bytes (no header is that long).
    private static func readLine(_ socket: Int32) -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < 256 {
            let count = read(socket, &byte, 1)
            if count < 0 && errno == EINTR { continue }
            guard count == 1 else { return nil }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return nil
    }

    private static func readExactly(_ count: Int, from socket: Int32) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let got = bytes.withUnsafeMutableBytes { read(socket, $0.baseAddress! + offset, count - offset) }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else { return nil }
            offset += got
        }
        return bytes
    }
}

/// Which network namespace a thread is in: the device and inode of /proc/thread-self/ns/net.
struct NetworkNamespaceIdentity: Sendable, Equatable {
    let device: UInt64
    let inode: UInt64

    static func ofCallingThread() -> NetworkNamespaceIdentity? {
        var info = stat()
        guard stat("/proc/thread-self/ns/net", &info) == 0 else { return nil }
        return NetworkNamespaceIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }
}
