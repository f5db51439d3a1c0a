extension HealthCheckConfig {
    /// The check that judges one family of a WAN: the same settings with only that family's
    /// targets, and a quorum no larger than their count. Nil when the family has no targets of
    /// its own; it then follows the other family's verdict (one link, one fate, until a target
    /// says otherwise).
    public func check(for family: AddressFamily) -> HealthCheckConfig? {
        let own = targets.filter { $0.family == family }
        guard !own.isEmpty else { return nil }
        var check = self
        check.targets = own
        check.quorum = min(quorum, own.count)
        return check
    }

    /// The families this check has targets of, IPv4 first.
    public var families: [AddressFamily] { AddressFamily.allCases.filter { family in targets.contains { $0.family == family } } }

    /// For the code and tests written when targets were IPv4 only.
    public init(
        targets: [IPv4Address], method: HealthCheckMethod = .icmp, interval: Duration = Self.defaultInterval,
        timeout: Duration = Self.defaultTimeout, downAfter: Int = Self.defaultDownAfter,
        upAfter: Int = Self.defaultUpAfter, quorum: Int = 1,
        lossWindow: Int = Self.defaultLossWindow, maxLoss: Double = Self.defaultMaxLoss
    ) {
        self.init(
            targets: targets.map(IPAddress.v4), method: method, interval: interval, timeout: timeout, downAfter: downAfter,
            upAfter: upAfter, quorum: quorum, lossWindow: lossWindow, maxLoss: maxLoss)
    }
}
