import BraidConfig
import BraidDaemon
import BraidLab
import Foundation
import Testing

extension LabTests.Observe {
    /// curl's exit status and the HTTP code, against any address (the suite's `call` knows only the default one).
    static func probe(_ lab: Lab, _ url: String) throws -> (exit: Int32, code: String) {
        let result = try lab.router.runner.run(["curl", "-s", "-o", "/dev/null", "--max-time", "3", "-w", "%{http_code}", url])
        return (result.status, result.standardOutput)
    }

    @Test("A reload that changes api.listen moves the HTTP API: the old address stops answering, the new one answers; none closes it")
    func reloadMovesTheListener() async throws {
        try await Lab.with(wanCount: 1, name: "apimv") { lab in
            let base = try Self.config(lab)
            let path = try lab.writeFile("braid.yaml", base)
            let daemon = try LabDaemon(lab: lab, binary: try BraidExecutable.path, configPath: path)
            try await daemon.waitForLog("HTTP API listening on http://127.0.0.1:9180/", timeout: .seconds(15))
            // SIGHUP before the control loop has installed its handler would end the daemon.
            try await daemon.waitForLog("running", timeout: .seconds(15))
            #expect(try Self.probe(lab, "http://127.0.0.1:9180/api/v1/status").code == "200")

            var logged = daemon.log.count
            _ = try lab.writeFile("braid.yaml", base.replacingOccurrences(of: "api:\n", with: "api:\n  listen: \"[::1]:9191\"\n"))
            daemon.signal(SIGHUP)
            try await daemon.waitForLog("HTTP API listening on http://[::1]:9191/", after: logged, timeout: .seconds(10))
            #expect(daemon.logText.contains("the HTTP API moved from http://127.0.0.1:9180/ to http://[::1]:9191/"))
            #expect(try Self.probe(lab, "http://[::1]:9191/api/v1/status").code == "200")
            #expect(try Self.probe(lab, "http://127.0.0.1:9180/api/v1/status").exit != 0, "the old listener still answers")
            let events = try JSONSerialization.jsonObject(
                with: Data(try lab.router.runner.run(["curl", "-s", "http://[::1]:9191/api/v1/events"]).standardOutput.utf8))
            #expect("\(events)".contains("HTTP API moved"), "\(events)")

            // Off, then back on by a reload.
            logged = daemon.log.count
            _ = try lab.writeFile("braid.yaml", base.replacingOccurrences(of: "api:\n", with: "api:\n  listen: none\n"))
            daemon.signal(SIGHUP)
            try await daemon.waitForLog("moved from http://[::1]:9191/ to none (off)", after: logged, timeout: .seconds(10))
            try await Task.sleep(for: .milliseconds(300))
            #expect(try Self.probe(lab, "http://[::1]:9191/api/v1/status").exit != 0)
            logged = daemon.log.count
            _ = try lab.writeFile("braid.yaml", base)
            daemon.signal(SIGHUP)
            try await daemon.waitForLog("HTTP API listening on http://127.0.0.1:9180/", after: logged, timeout: .seconds(10))
            #expect(try Self.probe(lab, "http://127.0.0.1:9180/api/v1/status").code == "200")
            #expect(await daemon.stop() == 0)
        }
    }
}
