import BraidConfig
import Logging
import Testing

@testable import BraidDaemon

/// A reload keeps the running `ha:` section (keepalived and conntrackd run from it).
@Suite struct HAReloadTests {
    static let yaml = """
        lan: { interfaces: [lan0] }
        wans:
          - { name: wan1, interface: wan1, gateway: 203.0.113.1 }
        ha:
          priority: 200
          sync_interface: sync0
          peer: 10.99.0.2
          virtual_addresses: { lan0: [10.0.0.1/24], wan1: [203.0.113.2/24] }
        """

    @Test func aChangedHASectionWaitsForARestart() throws {
        let running = try ConfigLoader.parse(Self.yaml)
        var edited = try ConfigLoader.parse(Self.yaml.replacingOccurrences(of: "priority: 200", with: "priority: 50"))
        edited.wans[0].weight = 3
        let kept = try GatewayDaemon.keepingHighAvailability(
            of: running, in: .success(edited), logger: Logger(label: "test")
        ).get()
        #expect(kept.ha == running.ha)
        #expect(kept.wans[0].weight == 3, "the rest of the reload applies")
        var removed = edited
        removed.ha = nil
        #expect(
            try GatewayDaemon.keepingHighAvailability(of: running, in: .success(removed), logger: Logger(label: "test"))
                .get().ha == running.ha)
        let failed = Result<Config, ConfigError>.failure(.syntax(message: "x", line: 1))
        #expect(GatewayDaemon.keepingHighAvailability(of: running, in: failed, logger: Logger(label: "test")) == failed)
    }
}
