import BraidDaemon
import Foundation
import Synchronization

/// A clock that moves only when the test says so. `advance(by:)` fires, in deadline order, every
/// scheduled event that has come due, as the real clock's timers would while time passed.
final class ManualDaemonClock: DaemonClock {
    private struct State {
        var offset: Duration = .zero
        var scheduled: [(deadline: ContinuousClock.Instant, event: @Sendable () -> Void)] = []
    }

    private let origin = ContinuousClock.now
    private let wallOrigin = Date(timeIntervalSince1970: 1_800_000_000)
    private let state = Mutex(State())

    var now: ContinuousClock.Instant { origin + state.withLock { $0.offset } }

    var wallNow: Date {
        let offset = state.withLock { $0.offset }
        return wallOrigin.addingTimeInterval(Double(offset.components.seconds) + Double(offset.components.attoseconds) / 1e18)
    }

    /// How many events are waiting for their deadline.
    var pendingEvents: Int { state.withLock { $0.scheduled.count } }

    func schedule(at deadline: ContinuousClock.Instant, _ event: @escaping @Sendable () -> Void) {
        if deadline <= now { event(); return }
        state.withLock { $0.scheduled.append((deadline, event)) }
    }

    /// Moves time forward and fires what came due, each at its own deadline.
    func advance(by duration: Duration) {
        let target = state.withLock { $0.offset } + duration
        while true {
            let next: (@Sendable () -> Void)? = state.withLock { state in
                let deadline = origin + target
                guard
                    let index = state.scheduled.indices.filter({ state.scheduled[$0].deadline <= deadline })
                        .min(by: { state.scheduled[$0].deadline < state.scheduled[$1].deadline })
                else { return nil }
                let due = state.scheduled.remove(at: index)
                state.offset = max(state.offset, due.deadline - origin)
                return due.event
            }
            guard let next else { break }
            next()
        }
        state.withLock { $0.offset = target }
    }
}
