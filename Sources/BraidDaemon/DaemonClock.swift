import Foundation

/// Where the control loop gets its time from: the monotonic clock that the health trackers and
/// flap dampers judge by, the wall clock shown as `since` in the status, and the timer that wakes
/// the loop when a flap-damping hold ends. The daemon uses `SystemDaemonClock`; tests pass a
/// manual clock and advance it, so a minute of flapping takes no time and no root.
public protocol DaemonClock: Sendable {
    /// Monotonic time, for durations and deadlines.
    var now: ContinuousClock.Instant { get }
    /// Wall-clock time, for what a person reads (`since` in `braid status`).
    var wallNow: Date { get }
    /// Calls `event` once `deadline` has passed (at once when it already has). `event` must not
    /// touch the controller: it should only emit an event into the control loop.
    func schedule(at deadline: ContinuousClock.Instant, _ event: @escaping @Sendable () -> Void)
}

/// The real clocks, and a task that sleeps until each deadline.
public struct SystemDaemonClock: DaemonClock {
    public init() {}

    public var now: ContinuousClock.Instant { ContinuousClock.now }
    public var wallNow: Date { Date() }

    public func schedule(at deadline: ContinuousClock.Instant, _ event: @escaping @Sendable () -> Void) {
        Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            event()
        }
    }
}
