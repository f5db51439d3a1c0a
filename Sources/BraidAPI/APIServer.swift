import BraidConfig
import BraidDaemon
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A request's context: Hummingbird's, with request bodies limited to 1 KiB (no endpoint takes
/// more than an empty body; a large one is refused with 413 before it is read whole).
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
    public var maxUploadSize: Int { 1024 }
}

/// The daemon's HTTP API as a service of `braid run`: Prometheus `/metrics`, the status and event
/// log as JSON, a live event stream (server-sent events), drain/undrain and reload, and the
/// dashboard, all from this binary. Every handler reads shared snapshots or hands work to other
/// threads; none waits on the control loop except a command, which the loop answers between events.
public struct APIServer: Service {
    let listen: ListenAddress
    let token: ApiToken?
    let hub: DaemonHub
    let telemetry: PrometheusTelemetry?
    let sampler: KernelSampler
    let logger: Logger
    /// Set at graceful shutdown, so that open live streams end and the server can stop.
    private let stopping = StopFlag()

    public init(listen: ListenAddress, token: ApiToken?, hub: DaemonHub, telemetry: PrometheusTelemetry?, logger: Logger) {
        self.listen = listen
        self.token = token
        self.hub = hub
        self.telemetry = telemetry
        self.sampler = KernelSampler(kernel: hub.kernel)
        self.logger = logger
    }

    /// Read endpoints need the token only when the API listens beyond loopback.
    var readsNeedToken: Bool { !listen.isLoopback }

    public func run() async throws {
        let application = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(listen.hostText, port: listen.port), serverName: nil),
            onServerRunning: { [logger, listen] _ in logger.info("HTTP API listening on http://\(listen)/") },
            logger: logger)
        try await withGracefulShutdownHandler {
            try await application.runService()
        } onGracefulShutdown: { [stopping] in
            stopping.set()
        }
    }

    func makeRouter() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        router.add(middleware: AuthorizationMiddleware(token: token, readsNeedToken: readsNeedToken))
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: DashboardPage.html)))
        }
        router.get("/metrics") { _, _ in
            let text = await metricsText()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("/api/v1/status") { _, _ in
            let hub = self.hub
            let report = await Self.offload { () -> Result<StatusReport, any Error> in
                Result {
                    try StatusReport.read(config: hub.config, kernel: hub.kernel, store: hub.store, daemon: hub.status.snapshot)
                }
            }
            switch report {
            case .success(let report): return Self.json(report, pretty: true)
            case .failure(let error): return Self.message(.internalServerError, "cannot read the kernel: \(error)")
            }
        }
        router.get("/api/v1/events") { _, _ in
            Self.jsonText(.ok, "[" + hub.events.recent.map(\.jsonLine).joined(separator: ",\n") + "]\n")
        }
        router.get("/api/v1/events/stream") { request, _ in
            let last = request.headers[.init("Last-Event-ID")!].flatMap { Int($0) } ?? hub.events.recent.last?.id ?? 0
            return eventStream(after: last)
        }
        router.get("/api/v1/live") { _, _ in liveStream() }
        router.post("/api/v1/wans/:name/drain") { request, context in
            try await command(request, context) { .drain(wan: $0) }
        }
        router.post("/api/v1/wans/:name/undrain") { request, context in
            try await command(request, context) { .undrain(wan: $0) }
        }
        router.post("/api/v1/reload") { request, context in
            _ = try await request.body.collect(upTo: context.maxUploadSize)
            switch await hub.reload() {
            case .success: return Self.message(.ok, "reload requested; the log says what changed")
            case .failure(let error):
                return Self.message(.unprocessableContent, "the config is invalid; nothing changed:\n\(error)")
            }
        }
        return router
    }

    func command(
        _ request: Request, _ context: APIRequestContext, _ make: (String) -> DaemonCommand
    ) async throws -> Response {
        _ = try await request.body.collect(upTo: context.maxUploadSize)
        let name = context.parameters.get("name") ?? ""
        switch await hub.send(make(name)) {
        case .done(let text): return Self.message(.ok, text)
        case .unknownWan(let name):
            return Self.message(.notFound, "no WAN named \"\(ControlCharacters.escaped(name))\" in the running config")
        case .unavailable: return Self.message(.serviceUnavailable, "the control loop is not running (starting or stopping)")
        }
    }

    /// The metrics text: gauges from the status and one kernel sample, then the registry.
    func metricsText() async -> String {
        let config = hub.config
        let sample = await sampler.sample(mask: config.kernel.markMask)
        if let error = sample.error { logger.warning("metrics: \(error)") }
        let input = MetricsText.Input(
            config: config, status: hub.status.snapshot, marks: hub.marks, shares: hub.shares, sample: sample)
        return MetricsText.render(input, registry: telemetry?.registry.emitToString() ?? "")
    }

    /// Events as server-sent events (`id:` is the event id, so a reconnecting client resumes).
    func eventStream(after start: Int) -> Response {
        let hub = self.hub
        let stopping = self.stopping
        return Response(
            status: .ok, headers: Self.streamHeaders,
            body: .init { writer in
                var last = start
                var idle = Duration.zero
                while !stopping.isSet && !Task.isCancelled {
                    let fresh = hub.events.events(after: last)
                    for event in fresh {
                        try await writer.write(
                            ByteBuffer(string: "id: \(event.id)\nevent: \(event.kind.rawValue)\ndata: \(event.jsonLine)\n\n"))
                        last = event.id
                    }
                    // A comment line now and then: proxies keep the stream open, dead clients are noticed.
                    idle = fresh.isEmpty ? idle + .milliseconds(100) : .zero
                    if idle >= .seconds(15) {
                        try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                        idle = .zero
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await writer.finish(nil)
            })
    }

    /// The dashboard's feed: the whole view every second, and at once when an event arrives.
    func liveStream() -> Response {
        let hub = self.hub
        let telemetry = self.telemetry
        let sampler = self.sampler
        let stopping = self.stopping
        return Response(
            status: .ok, headers: Self.streamHeaders,
            body: .init { writer in
                var lastEvent = hub.events.recent.last?.id ?? 0
                var lastSent = ContinuousClock.now - .seconds(10)
                while !stopping.isSet && !Task.isCancelled {
                    let newest = hub.events.recent.last?.id ?? 0
                    if newest != lastEvent || ContinuousClock.now - lastSent >= .seconds(1) {
                        lastEvent = newest
                        lastSent = ContinuousClock.now
                        let sample = await sampler.sample(mask: hub.config.kernel.markMask, maxAge: .milliseconds(900))
                        let view = LiveView.make(hub: hub, telemetry: telemetry, sample: sample)
                        try await writer.write(ByteBuffer(string: "data: \(view.json)\n\n"))
                    }
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await writer.finish(nil)
            })
    }

    static let streamHeaders: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]

    /// Runs blocking work (the kernel reads of `/api/v1/status`) on a thread of its own.
    static func offload<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: body()) }
            thread.name = "braid-api-read"
            thread.start()
        }
    }

    static func json(_ value: some Encodable, pretty: Bool) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        guard let data = try? encoder.encode(value) else { return message(.internalServerError, "cannot encode the answer") }
        return jsonText(.ok, String(decoding: data, as: UTF8.self) + "\n")
    }

    static func jsonText(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// `{"message": "…"}` with `status`.
    static func message(_ status: HTTPResponse.Status, _ text: String) -> Response {
        let data = (try? JSONEncoder().encode(["message": text])).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return jsonText(status, data + "\n")
    }
}

/// Refuses a call without the right `Authorization: Bearer TOKEN` with 401, before its handler
/// runs: every POST, and every call when the API listens beyond loopback.
struct AuthorizationMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let token: ApiToken?
    let readsNeedToken: Bool

    func handle(
        _ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        let changes = request.method != .get && request.method != .head
        guard changes || readsNeedToken else { return try await next(request, context) }
        guard let token else {
            return APIServer.message(.unauthorized, "no api.token_file is configured, so nothing can be changed over HTTP")
        }
        guard token.accepts(authorization: request.headers[.authorization]) else {
            var response = APIServer.message(.unauthorized, "missing or wrong bearer token (Authorization: Bearer TOKEN)")
            response.headers[.wwwAuthenticate] = "Bearer"
            return response
        }
        return try await next(request, context)
    }
}

/// A flag set once, read by many.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
