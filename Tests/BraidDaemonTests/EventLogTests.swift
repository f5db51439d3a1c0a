import BraidDaemon
import Foundation
import Testing

@Suite struct EventLogTests {
    static func temporaryPath() -> String {
        let directory = NSTemporaryDirectory() + "braid-events-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory + "/events.jsonl"
    }

    @Test func keepsTheLastThousandInMemoryAndOnDiskWithIdsThatGoOnAfterARestart() throws {
        let path = Self.temporaryPath()
        let log = EventLog(path: path)
        for index in 1...1205 {
            log.record(GatewayEventRecord(kind: .state, wan: "isp\(index % 3)", from: "up", to: "down", reason: "r\(index)"))
        }
        log.flush()
        #expect(log.recent.count == 1000)
        #expect(log.recent.first?.id == 206 && log.recent.last?.id == 1205)

        let reopened = EventLog(path: path)
        #expect(reopened.recent.map(\.id) == Array(206...1205))
        #expect(reopened.recent.last?.reason == "r1205")
        let next = reopened.record(GatewayEventRecord(kind: .reload, reason: "again"))
        #expect(next.id == 1206)
    }

    @Test func aLineCutShortByACrashIsSkipped() throws {
        let path = Self.temporaryPath()
        let log = EventLog(path: path)
        log.record(GatewayEventRecord(kind: .drain, wan: "isp1", reason: "one"))
        log.flush()
        let handle = try #require(FileHandle(forWritingAtPath: path))
        handle.seekToEndOfFile()
        handle.write(Data("{\"id\":2,\"event\":\"sta".utf8))
        try handle.close()
        let reopened = EventLog(path: path)
        #expect(reopened.recent.map(\.reason) == ["one"])
    }

    @Test func theJSONHasTheDocumentedKeysAndMillisecondTimes() throws {
        let event = GatewayEventRecord(
            id: 7, time: Date(timeIntervalSince1970: 1_800_000_000.25), kind: .state, wan: "isp1", interface: "wan1",
            from: "up", to: "down", reason: "3 failed rounds", detectionSeconds: 0.45, gateway: "192.0.2.1",
            usableWans: ["isp2"])
        let line = event.jsonLine
        #expect(line.contains("\"event\":\"state\"") && line.contains("\"detection_seconds\":0.45"))
        #expect(line.contains("\"usable_wans\":[\"isp2\"]") && line.contains("\"time\":\"2027-01-15T08:00:00.250Z\""), "\(line)")
        let decoded = try GatewayEventRecord.decoder.decode(GatewayEventRecord.self, from: Data(line.utf8))
        #expect(decoded == event)
    }

    @Test func aStreamGetsEventsRecordedAfterItStarted() async throws {
        let log = EventLog(path: nil)
        log.record(GatewayEventRecord(kind: .reload, reason: "before"))
        let stream = log.stream()
        log.record(GatewayEventRecord(kind: .drain, wan: "isp1", reason: "after"))
        var iterator = stream.makeAsyncIterator()
        #expect(await iterator.next()?.reason == "after")
        #expect(log.events(after: 1).map(\.reason) == ["after"])
    }
}
