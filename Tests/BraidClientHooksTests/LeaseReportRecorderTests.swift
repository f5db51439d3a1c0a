import BraidApply
import BraidClientHooks
import BraidConfig
import BraidPlanner
import Foundation
import Testing

/// What `braid hooks report` records, and what it refuses with nothing written.
@Suite struct LeaseReportRecorderTests {
    let stateDirectory = NSTemporaryDirectory() + "braid-report-\(UUID().uuidString)"

    func record(
        _ client: String, _ interface: String, _ reason: String, address: String = "", routers: String = ""
    )
        -> LeaseReportRecorder.Outcome
    {
        LeaseReportRecorder(stateDirectory: stateDirectory).record(
            .init(client: client, interface: interface, reason: reason, address: address, routers: routers), now: 42)
    }

    var stored: [ClientLeaseReport] { ClientLeaseReportStore(stateDirectory: stateDirectory).load() }

    @Test func aBoundLeaseIsRecordedWithItsFirstRouter() {
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        let outcome = record("dhclient", "wan1", "BOUND", address: "100.64.1.2", routers: "100.64.1.1 100.64.1.9")
        let expected = ClientLeaseReport(
            interface: "wan1", client: .dhclient, reason: "BOUND", isBound: true, address: IPAddress("100.64.1.2"),
            router: IPAddress("100.64.1.1"), reportedAt: 42)
        #expect(outcome == .recorded(expected, nudged: nil))
        #expect(stored == [expected])
        _ = record("dhclient", "wan1", "EXPIRE")
        #expect(stored.map(\.isBound) == [false], "the expiry replaces the lease")
    }

    @Test(arguments: [
        ("dhclient", "", "BOUND", "100.64.1.2", "100.64.1.1"),
        ("dhclient", "wan1/../../etc", "BOUND", "100.64.1.2", "100.64.1.1"),
        ("dhclient", "wan1", "BOUND", "", "100.64.1.1"),
        ("dhclient", "wan1", "BOUND", "100.64.1.2", "router.example"),
        ("dhclient", "wan1", "BOUND", "100.64.1.2", "127.0.0.1"),
        ("udhcpd", "wan1", "BOUND", "100.64.1.2", "100.64.1.1"),
        ("pppd", "ppp0", "ip-up", "10.0.0.300", "10.0.0.1"),
    ])
    func garbageIsRejectedWithNothingWritten(
        _ client: String, _ interface: String, _ reason: String, _ address: String, _ router: String
    ) {
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        guard case .rejected = record(client, interface, reason, address: address, routers: router) else {
            Issue.record("accepted \(client) \(interface) \(reason) \(address) \(router)")
            return
        }
        #expect(!FileManager.default.fileExists(atPath: stateDirectory))
    }

    @Test func reasonsThatSayNothingAboutTheLeaseAreIgnored() {
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        #expect(record("dhclient", "wan1", "PREINIT") == .ignored("PREINIT says nothing about the lease"))
        guard case .ignored = record("dhcpcd", "wan1", "BOUND6", address: "", routers: "") else {
            Issue.record("an IPv6 event was recorded")
            return
        }
        #expect(stored.isEmpty)
    }

    @Test func aCorruptReportFileIsSkipped() throws {
        defer { try? FileManager.default.removeItem(atPath: stateDirectory) }
        _ = record("pppd", "ppp0", "ip-up", address: "100.64.9.2", routers: "100.64.9.1")
        try "{not json".write(toFile: stateDirectory + "/leases/wan7.ipv4.json", atomically: true, encoding: .utf8)
        #expect(stored.map(\.interface) == ["ppp0"])
    }
}
