import CBraidLinux
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child program started with posix_spawn: argv array, no shell, its standard output and error
/// on pipes. Foundation's Process was seen here to miss a child's exit when several threads spawn
/// at once, leaving `waitUntilExit` blocked forever; `waitpid` on our own pid cannot.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    /// Read ends of the child's standard output and error (one pipe when they are merged).
    public let outputDescriptor: Int32
    public let errorDescriptor: Int32?
    private let inputDescriptor: Int32?
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments` (argv[0] included). `mergeError` sends standard error
    /// to the output pipe; `withInput` keeps a pipe to the child's standard input open.
    public init(executable: String, arguments: [String], mergeError: Bool = false, withInput: Bool = false) throws {
        func makePipe() throws -> (read: Int32, write: Int32) {
            var descriptors: [Int32] = [0, 0]
            guard braid_pipe_cloexec(&descriptors) == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            return (descriptors[0], descriptors[1])
        }
        let output = try makePipe()
        let error = mergeError ? nil : try makePipe()
        let input = withInput ? try makePipe() : nil

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let input {
            posix_spawn_file_actions_adddup2(&actions, input.read, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, output.write, 1)
        posix_spawn_file_actions_adddup2(&actions, error?.write ?? output.write, 2)

        let argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, nil, argv, environ)
        for descriptor in [output.write, error?.write, input?.read].compactMap({ $0 }) { close(descriptor) }
        guard result == 0 else {
            for descriptor in [output.read, error?.read, input?.write].compactMap({ $0 }) { close(descriptor) }
            throw POSIXError(.init(rawValue: result) ?? .EIO)
        }
        pid = child
        outputDescriptor = output.read
        errorDescriptor = error?.read
        inputDescriptor = input?.write
    }

    /// Writes all of `data` to the child's standard input, then closes it.
    public func writeInputAndClose(_ data: [UInt8]) {
        guard let inputDescriptor else { return }
        var offset = 0
        while offset < data.count {
            let written = data.withUnsafeBytes { write(inputDescriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { break }
            offset += written
        }
        close(inputDescriptor)
    }

    /// Reads one pipe to its end.
    public static func readAll(_ descriptor: Int32) -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            result += buffer[..<count]
        }
        close(descriptor)
        return result
    }

    /// Reads the output pipe on a thread of its own until the child closes it, handing `line` each
    /// line without its newline (and a last line that has none), then closes the pipe. For children
    /// whose output is a log: a pipe nobody reads fills up and stalls the child.
    public func forEachOutputLine(_ line: @escaping @Sendable (String) -> Void) {
        let descriptor = outputDescriptor
        Thread.detachNewThread {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                pending += buffer[..<count]
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    line(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
            close(descriptor)
        }
    }

    /// Waits for the child to exit; returns its exit status (128 + signal when killed).
    @discardableResult
    public func wait() -> Int32 {
        if let status = exitStatus.withLock({ $0 }) { return status }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        exitStatus.withLock { $0 = code }
        return code
    }

    /// True until `wait` has reaped the child or it has exited (checked without blocking).
    public var isRunning: Bool {
        if exitStatus.withLock({ $0 }) != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            exitStatus.withLock { $0 = code }
            return false
        }
        return result == 0
    }

    public func signal(_ number: Int32) {
        if isRunning { kill(pid, number) }
    }
}
