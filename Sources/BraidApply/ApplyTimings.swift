import Foundation

/// How long each phase of one apply took: observe (state file, kernel reads, sysctls,
/// verification reads), plan (host facts and the planner), render (the desired table's text), diff
/// (reading the loaded and desired tables, the in-place update and the steps), execute (the kernel
/// steps) and verify
/// (reading back, recording the state file). A phase entered twice adds up.
public struct ApplyTimings: Sendable, Equatable, CustomStringConvertible {
    public var observe: Duration = .zero
    public var plan: Duration = .zero
    public var render: Duration = .zero
    public var diff: Duration = .zero
    public var execute: Duration = .zero
    public var verify: Duration = .zero

    public init() {}

    public var total: Duration { observe + plan + render + diff + execute + verify }

    /// Runs `body`, adding its wall time to `phase` whether or not it throws.
    mutating func measure<Result, Failure: Error>(
        _ phase: WritableKeyPath<ApplyTimings, Duration>, _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let started = ContinuousClock.now
        defer { self[keyPath: phase] += ContinuousClock.now - started }
        return try body()
    }

    public var description: String {
        func ms(_ duration: Duration) -> String {
            let value = Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15
            return value < 10 ? String(format: "%.1f ms", value) : "\(Int(value.rounded())) ms"
        }
        return
            "observe \(ms(observe)), plan \(ms(plan)), render \(ms(render)), diff \(ms(diff)), execute \(ms(execute)), verify \(ms(verify))"
    }
}
