import BraidConfig
import BraidDaemon
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests.Observe {
    /// Drives Debian's chromium through chromedriver (python3-selenium) inside the router's
    /// namespace: it opens the dashboard, waits until both WANs show up, signals the test, which
    /// cuts isp1's upstream; it then watches the page (no reload) until isp1's card says down,
    /// and takes a wide and a phone-sized screenshot.
    static let browserScript = #"""
        import json, os, sys, time
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        url, profile, ready, cut, result, wide, narrow = sys.argv[1:]
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--user-data-dir=" + profile, "--window-size=1280,1000", "--no-first-run"]:
            options.add_argument(argument)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        outcome = {}
        try:
            driver.get(url)
            # Read in one script call: the page redraws its cards on every update, so an element
            # found in one call may be gone by the next.
            def state(name):
                return driver.execute_script(
                    "const card = document.querySelector('article[data-wan=\"' + arguments[0] + '\"]');"
                    " return card ? card.dataset.state : null", name)
            deadline = time.time() + 20
            while time.time() < deadline and not (state("isp1") == "up" and state("isp2") == "up"):
                time.sleep(0.05)
            outcome["before"] = [state("isp1"), state("isp2")]
            time.sleep(4)  # a few seconds of RTT history for the sparklines
            driver.execute_script("window.__braidMarker = 'same page'")
            open(ready, "w").write("ready")
            deadline = time.time() + 30
            while not os.path.exists(cut) and time.time() < deadline:
                time.sleep(0.005)
            while state("isp1") != "down" and time.time() < deadline:
                time.sleep(0.01)
            outcome["seen_down_at"] = time.time()
            outcome["after"] = [state("isp1"), state("isp2")]
            outcome["marker"] = driver.execute_script("return window.__braidMarker")
            outcome["text"] = driver.execute_script("return document.querySelector('article[data-wan=\"isp1\"]').innerText")
            outcome["events"] = driver.execute_script("return document.getElementById('events').innerText")
            time.sleep(1.5)
            driver.save_screenshot(wide)
            driver.set_window_size(390, 1400)
            time.sleep(1.2)
            outcome["narrow_scroll_width"] = driver.execute_script("return document.documentElement.scrollWidth")
            driver.save_screenshot(narrow)
        except Exception as error:
            outcome["error"] = repr(error)
            raise
        finally:
            driver.quit()
            open(result, "w").write(json.dumps(outcome))
        """#

    /// Kills every process of the browser run: the script's session, and anything still holding
    /// the run's own profile directory (chromium forks helpers that may leave the session).
    static func killBrowser(sessionLeader: Int32, profile: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        for entry in entries {
            guard let pid = Int32(entry), pid != getpid() else { continue }
            let stat = (try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)) ?? ""
            // Fields after the ")" that ends the command name: state, ppid, pgrp, session.
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            let session = fields.count > 4 ? Int32(fields[4]) : nil
            let commandLine =
                (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline"))).map {
                    String(decoding: $0.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
                } ?? ""
            if session == sessionLeader || commandLine.contains(profile) { kill(pid, SIGKILL) }
        }
    }

    @Test("The dashboard in chromium shows a WAN going down within a second, without a reload")
    func dashboardUpdatesLive() async throws {
        try await Lab.with(wanCount: 2, name: "dash") { lab in
            let daemon = try await Self.startDaemon(lab, yaml: try Self.config(lab))
            try await lab.waitForWan("isp1", .up)
            try await lab.waitForWan("isp2", .up)
            _ = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 20)
            let script = try lab.writeFile("dashboard.py", Self.browserScript)
            let scratch = (script as NSString).deletingLastPathComponent
            let profile = scratch + "/chromium-profile"
            let ready = scratch + "/ready"
            let cut = scratch + "/cut"
            let result = scratch + "/result.json"
            let wide = scratch + "/dashboard-wide.png"
            let narrow = scratch + "/dashboard-narrow.png"
            let ip = FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip"
            // setsid: the script leads a session of its own, so teardown finds every browser process.
            let browser = try ChildProcess(
                executable: ip,
                arguments: [
                    "ip", "netns", "exec", lab.router.name, "setsid", "/usr/bin/python3", script, "http://127.0.0.1:9180/",
                    profile, ready, cut, result, wide, narrow,
                ], mergeError: true)
            let output = LockedBox("")
            let reader = Thread {
                let text = String(decoding: ChildProcess.readAll(browser.outputDescriptor), as: UTF8.self)
                output.update { $0 = text }
            }
            reader.start()
            defer {
                Self.killBrowser(sessionLeader: browser.pid, profile: profile)
                browser.wait()
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while !FileManager.default.fileExists(atPath: ready) && browser.isRunning && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(FileManager.default.fileExists(atPath: ready), "the browser never showed both WANs up: \(output.value)")
            try lab.cutUpstream(lab.wans[0])
            FileManager.default.createFile(atPath: cut, contents: Data("cut".utf8))
            try await lab.waitForWan("isp1", .down)
            while browser.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            let data = try #require(FileManager.default.contents(atPath: result), "no result from the browser: \(output.value)")
            struct Outcome: Decodable {
                var before: [String?]
                var after: [String?]
                var seen_down_at: Double
                var marker: String?
                var text: String
                var events: String
                var narrow_scroll_width: Int?
            }
            let outcome: Outcome
            do { outcome = try JSONDecoder().decode(Outcome.self, from: data) } catch {
                throw LabError("the browser script failed: \(String(decoding: data, as: UTF8.self))\n\(output.value)")
            }
            #expect(outcome.before == ["up", "up"])
            #expect(outcome.after == ["down", "up"], "\(outcome.after)")
            #expect(outcome.marker == "same page", "the page was reloaded")
            #expect(outcome.text.uppercased().contains("DOWN") && outcome.text.contains("failed rounds"), "\(outcome.text)")
            #expect(outcome.events.contains("isp1"), "\(outcome.events)")
            #expect((outcome.narrow_scroll_width ?? 10_000) <= 390, "the phone layout scrolls sideways")
            // From the daemon's state change (its event's time) to the page showing it.
            let events = try Self.call(lab, "GET", "/api/v1/events").body
            let list = try GatewayEventRecord.decoder.decode([GatewayEventRecord].self, from: Data(events.utf8))
            let down = try #require(list.last { $0.kind == .state && $0.wan == "isp1" && $0.to == "down" })
            let delay = outcome.seen_down_at - down.time.timeIntervalSince1970
            print("dashboard: isp1 down on the page \(String(format: "%.3f", delay)) s after the daemon's state change")
            #expect(delay < 1.0 && delay > -0.05, "the page showed the change \(delay) s after it happened")
            // Kept for a person to look at (the lab's scratch directory is removed at teardown).
            if let keep = ProcessInfo.processInfo.environment["BRAID_DASHBOARD_SCREENSHOTS"] {
                try? FileManager.default.removeItem(atPath: keep + "-wide.png")
                try? FileManager.default.removeItem(atPath: keep + "-narrow.png")
                try FileManager.default.copyItem(atPath: wide, toPath: keep + "-wide.png")
                try FileManager.default.copyItem(atPath: narrow, toPath: keep + "-narrow.png")
            }
            #expect(await daemon.stop() == 0)
        }
    }
}
