import Foundation
import Synchronization

/// The daemon's recent events: the last 1000 in memory and in `events.jsonl` in the state
/// directory, so `braid events` still shows what happened before a daemon restart.
///
/// `record` is called on the control loop and never blocks on I/O: the file is appended to on a
/// queue of its own, and listeners (the hook runner, the API's live streams) get the event
/// without waiting for each other.
public final class EventLog: Sendable {
    /// How many events are kept, in memory and on disk.
    public static let capacity = 1000

    public let path: String?
    private struct State {
        var events: [GatewayEventRecord] = []
        var nextID = 1
        var linesInFile = 0
        var streams: [Int: AsyncStream<GatewayEventRecord>.Continuation] = [:]
        var nextStream = 0
        var listeners: [@Sendable (GatewayEventRecord) -> Void] = []
    }
    private let state = Mutex(State())
    private let writer = DispatchQueue(label: "braid-event-log")

    /// `path`: the file to keep the events in (nil: memory only). Events already in it are loaded.
    public init(path: String?) {
        self.path = path
        guard let path else { return }
        let loaded = Self.load(path)
        state.withLock {
            $0.events = Array(loaded.suffix(Self.capacity))
            $0.nextID = (loaded.last?.id ?? 0) + 1
            $0.linesInFile = loaded.count
        }
    }

    /// The log of a state directory.
    public convenience init(stateDirectory: String) { self.init(path: stateDirectory + "/events.jsonl") }

    /// The recent events, oldest first.
    public var recent: [GatewayEventRecord] { state.withLock { $0.events } }

    /// The events with an id above `id`, oldest first (what a live stream has not sent yet).
    public func events(after id: Int) -> [GatewayEventRecord] {
        state.withLock { state in
            guard let first = state.events.firstIndex(where: { $0.id > id }) else { return [] }
            return Array(state.events[first...])
        }
    }

    /// Calls `listener` for every event recorded from now on (on the recording thread: it must not block).
    public func addListener(_ listener: @escaping @Sendable (GatewayEventRecord) -> Void) {
        state.withLock { $0.listeners.append(listener) }
    }

    /// Gives the event its id and time, keeps it, and hands it to the listeners and streams.
    @discardableResult
    public func record(_ draft: GatewayEventRecord, at time: Date = Date()) -> GatewayEventRecord {
        var event = draft
        event.time = time
        let (listeners, streams, rewrite) = state.withLock { state in
            event.id = state.nextID
            state.nextID += 1
            state.events.append(event)
            if state.events.count > Self.capacity { state.events.removeFirst(state.events.count - Self.capacity) }
            state.linesInFile += 1
            // The file grows to twice the capacity, then is rewritten with the last 1000.
            let rewrite = state.linesInFile > 2 * Self.capacity ? state.events : nil
            if rewrite != nil { state.linesInFile = state.events.count }
            return (state.listeners, Array(state.streams.values), rewrite)
        }
        if let path {
            let line = event.jsonLine + "\n"
            writer.async {
                if let rewrite {
                    Self.replace(path, with: rewrite)
                } else {
                    Self.append(path, line)
                }
            }
        }
        for listener in listeners { listener(event) }
        for stream in streams { stream.yield(event) }
        return event
    }

    /// The events recorded from now on, until the consumer stops listening.
    public func stream() -> AsyncStream<GatewayEventRecord> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: GatewayEventRecord.self, bufferingPolicy: .bufferingNewest(Self.capacity))
        let key = state.withLock { state in
            defer { state.nextStream += 1 }
            state.streams[state.nextStream] = continuation
            return state.nextStream
        }
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.streams.removeValue(forKey: key) } }
        return stream
    }

    /// Waits until every event recorded so far is in the file (tests, shutdown).
    public func flush() { writer.sync {} }

    static func load(_ path: String) -> [GatewayEventRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        // A line cut short by a crash, or edited by hand into nonsense, is skipped, not fatal.
        return data.split(separator: UInt8(ascii: "\n")).compactMap {
            try? GatewayEventRecord.decoder.decode(GatewayEventRecord.self, from: Data($0))
        }
    }

    private static func append(_ path: String, _ line: String) {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        let bytes = Array(line.utf8)
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }

    private static func replace(_ path: String, with events: [GatewayEventRecord]) {
        let text = events.map { $0.jsonLine + "\n" }.joined()
        let temporary = path + ".tmp"
        FileManager.default.createFile(atPath: temporary, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        rename(temporary, path)
    }
}
