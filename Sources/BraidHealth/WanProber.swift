import BraidConfig
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Probes one WAN's targets on its own thread: a new round starts every `interval` whether or not
/// the previous one has finished (so a dead upstream is judged on schedule, not once per timeout),
/// every probe has `timeout` to answer, and finished rounds are reported in order.
///
/// All sockets are non-blocking and served by one `poll` loop, so a slow target never delays
/// another target, another WAN, or the control loop.
public final class WanProber: @unchecked Sendable {
    public let interface: String
    public let mark: UInt32
    public let check: HealthCheckConfig
    private let report: @Sendable (ProbeRound) -> Void
    private let running = Mutex(true)
    private let identifier = UInt16.random(in: 1...UInt16.max)

    /// One probe in flight.
    private struct Attempt {
        enum Stage { case connecting, awaitingResponse }
        var round: Int
        var target: Int
        var sentAt: ContinuousClock.Instant
        var deadline: ContinuousClock.Instant
        var descriptor: Int32 = -1
        var icmpSequence: UInt16 = 0
        var dnsIdentifier: UInt16 = 0
        var stage = Stage.connecting
        var response: [UInt8] = []
    }

    private struct PendingRound {
        var startedAt: ContinuousClock.Instant
        var outcomes: [ProbeOutcome?]
    }

    public init(interface: String, mark: UInt32, check: HealthCheckConfig, report: @escaping @Sendable (ProbeRound) -> Void) {
        self.interface = interface
        self.mark = mark
        self.check = check
        self.report = report
    }

    public func start() {
        let thread = Thread { [self] in loop() }
        thread.name = "braid-probe-\(interface)"
        thread.start()
    }

    /// Stops after the current poll (at most one interval).
    public func stop() { running.withLock { $0 = false } }

    private var isRunning: Bool { running.withLock { $0 } }

    /// A raw ICMP socket, per family, shared by all echo probes of that family.
    private struct ICMPSocket {
        var descriptor: Int32
        /// The interface's index when the socket was bound to it.
        var interfaceIndex: UInt32
    }

    private func loop() {
        let clock = ContinuousClock()
        // Family-neutral: each target gets a socket of its own family.
        let targets = check.targets
        var icmpSockets: [AddressFamily: ICMPSocket] = [:]
        defer { for socket in icmpSockets.values { close(socket.descriptor) } }
        // SO_BINDTODEVICE takes a name but binds the interface's index: a WAN interface that is
        // deleted and re-created (a PPP redial, a modem re-plugged) gets a new index, and a socket
        // bound to the old one fails every send. The socket is reopened, bound by name, whenever
        // the name's index changes or a send says the device is gone.
        func closeICMPSocket(_ family: AddressFamily) {
            if let socket = icmpSockets.removeValue(forKey: family) { close(socket.descriptor) }
        }
        var attempts: [Attempt] = []
        var rounds: [Int: PendingRound] = [:]
        var nextRound = 0
        var nextReported = 0
        var nextRoundAt = clock.now
        var icmpSequence: UInt16 = 0

        func resolve(_ index: Int, _ outcome: ProbeOutcome) {
            let attempt = attempts[index]
            if attempt.descriptor >= 0 { close(attempt.descriptor) }
            rounds[attempt.round]?.outcomes[attempt.target] = outcome
            attempts.remove(at: index)
        }

        while isRunning {
            let now = clock.now
            if now >= nextRoundAt {
                for (family, socket) in icmpSockets where ProbeSocket.interfaceIndex(interface) != socket.interfaceIndex {
                    closeICMPSocket(family)
                }
                rounds[nextRound] = PendingRound(startedAt: now, outcomes: Array(repeating: nil, count: targets.count))
                for (targetIndex, target) in targets.enumerated() {
                    var attempt = Attempt(round: nextRound, target: targetIndex, sentAt: now, deadline: now + check.timeout)
                    do {
                        switch check.method {
                        case .icmp:
                            let family = target.family
                            if icmpSockets[family] == nil {
                                let index = ProbeSocket.interfaceIndex(interface)
                                icmpSockets[family] = ICMPSocket(
                                    descriptor: try ProbeSocket.openICMP(family: family, interface: interface, mark: mark),
                                    interfaceIndex: index)
                            }
                            icmpSequence &+= 1
                            attempt.icmpSequence = icmpSequence
                            let request = ICMPEcho.request(family: family, identifier: identifier, sequence: icmpSequence)
                            if !ProbeSocket.sendTo(icmpSockets[family]!.descriptor, request, target) {
                                let error = errno
                                if ProbeSocket.meansDeviceGone(error) { closeICMPSocket(family) }
                                throw ProbeSocket.Failure(description: "send: \(String(cString: strerror(error)))")
                            }
                            attempt.stage = .awaitingResponse
                        case .tcp(let port):
                            attempt.descriptor = try ProbeSocket.open(
                                family: target.family, type: Int32(SOCK_STREAM.rawValue), protocol: 0,
                                interface: interface, mark: mark)
                            _ = try ProbeSocket.connect(attempt.descriptor, to: target, port: port)
                        case .http(_, let port, _):
                            attempt.descriptor = try ProbeSocket.open(
                                family: target.family, type: Int32(SOCK_STREAM.rawValue), protocol: 0,
                                interface: interface, mark: mark)
                            _ = try ProbeSocket.connect(attempt.descriptor, to: target, port: port)
                        case .dns(let name):
                            attempt.descriptor = try ProbeSocket.open(
                                family: target.family, type: Int32(SOCK_DGRAM.rawValue), protocol: 0,
                                interface: interface, mark: mark)
                            _ = try ProbeSocket.connect(attempt.descriptor, to: target, port: 53)
                            attempt.dnsIdentifier = UInt16.random(in: 0...UInt16.max)
                            if !ProbeSocket.send(
                                attempt.descriptor, DNSQuery.query(identifier: attempt.dnsIdentifier, name: name))
                            {
                                throw ProbeSocket.Failure(description: "send: \(String(cString: strerror(errno)))")
                            }
                            attempt.stage = .awaitingResponse
                        }
                        attempts.append(attempt)
                    } catch {
                        if attempt.descriptor >= 0 { close(attempt.descriptor) }
                        rounds[nextRound]?.outcomes[targetIndex] = .failed(reason: "\(error)")
                    }
                }
                nextRound += 1
                nextRoundAt = nextRoundAt + check.interval
                // After a stall (suspend, overload) start afresh rather than firing a burst of rounds.
                if nextRoundAt < now { nextRoundAt = now + check.interval }
            }

            // Wait for the next socket event, deadline or round.
            var descriptors: [pollfd] = []
            for socket in icmpSockets.values {
                descriptors.append(pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0))
            }
            for attempt in attempts where attempt.descriptor >= 0 {
                let events = attempt.stage == .connecting ? POLLOUT : POLLIN
                descriptors.append(pollfd(fd: attempt.descriptor, events: Int16(events), revents: 0))
            }
            let wakeAt = attempts.map(\.deadline).min().map { min($0, nextRoundAt) } ?? nextRoundAt
            let wait = max(0, (wakeAt - clock.now) / .milliseconds(1))
            _ = poll(&descriptors, nfds_t(descriptors.count), Int32(min(wait.rounded(.up), Double(Int32.max))))
            let arrived = clock.now

            for descriptor in descriptors where descriptor.revents != 0 {
                if let family = icmpSockets.first(where: { $0.value.descriptor == descriptor.fd })?.key {
                    while let (datagram, sender) = ProbeSocket.receiveFrom(descriptor.fd) {
                        guard let reply = ICMPEcho.parseReply(datagram, family: family, sender: sender),
                            reply.identifier == identifier,
                            let index = attempts.firstIndex(where: { $0.icmpSequence == reply.sequence && $0.descriptor < 0 }),
                            targets[attempts[index].target] == reply.source
                        else { continue }
                        resolve(index, .answered(rtt: arrived - attempts[index].sentAt))
                    }
                    continue
                }
                guard let index = attempts.firstIndex(where: { $0.descriptor == descriptor.fd }) else { continue }
                handle(&attempts[index], revents: descriptor.revents, at: arrived).map { resolve(index, $0) }
            }

            for index in attempts.indices.reversed() where attempts[index].deadline <= arrived {
                resolve(index, .failed(reason: "no answer within \(DurationText.format(check.timeout))"))
            }

            while let round = rounds[nextReported], round.outcomes.allSatisfy({ $0 != nil }) {
                report(ProbeRound(sequence: nextReported, startedAt: round.startedAt, outcomes: round.outcomes.map { $0! }))
                rounds[nextReported] = nil
                nextReported += 1
            }
        }
        for attempt in attempts where attempt.descriptor >= 0 { close(attempt.descriptor) }
    }

    /// Advances a TCP, HTTP or DNS probe on a socket event; returns its outcome once it has one.
    private func handle(_ attempt: inout Attempt, revents: Int16, at now: ContinuousClock.Instant) -> ProbeOutcome? {
        let rtt = now - attempt.sentAt
        switch check.method {
        case .icmp:
            return nil
        case .tcp:
            let error = ProbeSocket.pendingError(attempt.descriptor)
            // A refusal is an answer: the path through this WAN to the target works.
            if error == 0 || error == ECONNREFUSED { return .answered(rtt: rtt) }
            return .failed(reason: "connect: \(String(cString: strerror(error)))")
        case .http(let host, _, let path):
            if attempt.stage == .connecting {
                let error = ProbeSocket.pendingError(attempt.descriptor)
                guard error == 0 else { return .failed(reason: "connect: \(String(cString: strerror(error)))") }
                let request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: braid-health\r\nConnection: close\r\n\r\n"
                guard ProbeSocket.send(attempt.descriptor, Array(request.utf8)) else { return .failed(reason: "send failed") }
                attempt.stage = .awaitingResponse
                return nil
            }
            guard let bytes = ProbeSocket.receive(attempt.descriptor) else {
                return .failed(reason: "connection closed before a status line")
            }
            attempt.response += bytes
            // Bytes, not a String: Swift reads "\r\n" as one character.
            guard let lineEnd = attempt.response.firstIndex(where: { $0 == 13 || $0 == 10 }) else {
                return attempt.response.count > 1024 ? .failed(reason: "no status line in the first 1024 bytes") : nil
            }
            let words = String(decoding: attempt.response[..<lineEnd], as: UTF8.self).split(separator: " ")
            guard words.count >= 2, words[0].hasPrefix("HTTP/"), let status = Int(words[1]) else {
                return .failed(reason: "not an HTTP response")
            }
            return (200..<400).contains(status) ? .answered(rtt: rtt) : .failed(reason: "HTTP \(status)")
        case .dns:
            guard let datagram = ProbeSocket.receive(attempt.descriptor) else {
                return .failed(reason: "receive: \(String(cString: strerror(ProbeSocket.pendingError(attempt.descriptor))))")
            }
            return DNSQuery.isAnswer(datagram, to: attempt.dnsIdentifier) ? .answered(rtt: rtt) : nil
        }
    }
}
