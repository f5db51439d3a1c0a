import BraidConfig

/// What the planner needs to know about the host: which interfaces exist, whether they are up,
/// and their IPv4 addresses. Read by the kernel port; built by hand in tests.
public struct HostFacts: Sendable, Equatable {
    public var interfaces: [String: InterfaceFacts]

    public init(interfaces: [InterfaceFacts]) {
        self.interfaces = Dictionary(interfaces.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// One network interface as the kernel reports it.
public struct InterfaceFacts: Sendable, Equatable {
    public var name: String
    public var isUp: Bool
    public var addresses: [InterfaceAddress]

    public init(name: String, isUp: Bool = true, addresses: [InterfaceAddress] = []) {
        self.name = name
        self.isUp = isUp
        self.addresses = addresses
    }
}
