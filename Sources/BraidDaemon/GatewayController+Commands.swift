import BraidConfig

extension GatewayController {
    /// The WANs taking new connections now, in config order.
    var usableWans: [String] {
        let now = clock.now
        return config.wans.map(\.name).filter { wans[$0]?.state(at: now).carriesTraffic ?? false }
    }

    /// Drains or undrains a WAN: out of (or back into) the split for new connections, at once,
    /// with its open connections left alone, and recorded so that a restarted daemon keeps it.
    func perform(_ command: DaemonCommand) -> DaemonCommandOutcome {
        let (name, drain) =
            switch command {
            case .drain(let wan): (wan, true)
            case .undrain(let wan): (wan, false)
            }
        guard let wan = config.wans.first(where: { $0.name == name }), wans[name] != nil else { return .unknownWan(name) }
        guard drainedWans.contains(name) != drain else {
            return .done("\(name) was already \(drain ? "drained" : "not drained")")
        }
        if drain { drainedWans.insert(name) } else { drainedWans.remove(name) }
        wans[name]?.drained = drain
        if let record = hub?.drainRecord {
            do { try record.save(drainedWans) } catch {
                logger.error("cannot record the drain of \(name); it holds until the daemon stops: \(error)")
            }
        }
        let applied = reapply()
        publishStatus()
        hub?.notedDrain(wan: wan, drained: drain, usable: usableWans)
        logger.notice(
            "\(name) is \(drain ? "drained: no new connections, open ones stay" : "undrained: takes new connections again")",
            metadata: ["apply_ms": "\(applied.map { "\($0)" } ?? "failed")"])
        return .done("\(drain ? "drained" : "undrained") \(name)")
    }
}
