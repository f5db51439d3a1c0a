import Testing

@testable import BraidAPI

/// `braid_ha_role{role}` and `braid_ha_transitions_total` from the HA supervisor's role changes.
@Suite struct HAMetricsTests {
    @Test func roleGaugeAndTransitionCounter() {
        let telemetry = PrometheusTelemetry()
        telemetry.haRoleChanged(to: "backup")
        telemetry.haRoleChanged(to: "active")
        let text = telemetry.registry.emitToString()
        #expect(text.contains("braid_ha_role{role=\"active\"} 1"), "\(text)")
        #expect(text.contains("braid_ha_role{role=\"backup\"} 0"))
        #expect(text.contains("braid_ha_role{role=\"fault\"} 0"))
        #expect(text.contains("braid_ha_transitions_total 2"))
        #expect(text.contains("# TYPE braid_ha_role gauge"))
    }
}
