import BraidConfig
import BraidHealth

/// A running health probe of one WAN, as the controller sees it: started once, stopped on reload
/// and shutdown.
public protocol WanProbing: AnyObject {
    func start()
    func stop()
}

extension WanProber: WanProbing {}

/// What the controller asks for when it starts probing a WAN: the WAN, the mark its probes carry
/// (so they leave by that WAN's route), and its health settings.
public struct ProbeRequest: Sendable {
    public var wan: WanConfig
    public var mark: UInt32
    public var check: HealthCheckConfig
}

/// Makes the probers the controller starts. The daemon's opens sockets (`WanProber`); a test's
/// keeps each `report` closure and calls it with the rounds the scenario needs.
public struct ProberFactory: Sendable {
    public let make: @Sendable (ProbeRequest, _ report: @escaping @Sendable (ProbeRound) -> Void) -> any WanProbing

    public init(make: @escaping @Sendable (ProbeRequest, _ report: @escaping @Sendable (ProbeRound) -> Void) -> any WanProbing) {
        self.make = make
    }

    /// Real probes out of each WAN's interface, each on its own thread.
    public static let system = ProberFactory { request, report in
        WanProber(interface: request.wan.interface, mark: request.mark, check: request.check, report: report)
    }
}
