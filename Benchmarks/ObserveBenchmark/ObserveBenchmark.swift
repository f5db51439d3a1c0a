import BraidConfig
import BraidDaemon
import BraidKernel
import BraidLab
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Measures what the HTTP API costs, on `braid run` in the namespace lab with 4 WANs probed at
/// 5 Hz: the time of a `/metrics` scrape, then the same with 200,000 conntrack entries on the
/// router (counted in one netlink dump), and the daemon's RSS and CPU while scraped every 5 s,
/// against the same daemon with `api.listen: none`, in the same run.
///
/// Run as root: `swift build -c release --product braid --product observe-benchmark` then
/// `.build/release/observe-benchmark [window_seconds] [entries]` (defaults 60 and 200000).
@main
struct ObserveBenchmark {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        let window = arguments.first.flatMap(Int.init) ?? 60
        let entries = arguments.dropFirst().first.flatMap(Int.init) ?? 200_000
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("braid")
            .path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            print("error: build the braid product first (\(binary) is missing)")
            exit(1)
        }
        print("Observe benchmark: 4 WANs, icmp probes every 200 ms (5 Hz), \(window) s windows, \(entries) conntrack entries")
        let lab = try Lab(wanCount: 4, name: "obsb")
        defer { lab.teardown() }
        let health = "{ targets: [\(Lab.serverAddress)], interval: 200ms, timeout: 150ms }"
        let base = lab.configYAML(extraWanKeys: ["health": health])

        // 1. API on: CPU and RSS over the window, scraped every 5 s; scrape times.
        var daemon = try await start(lab, binary: binary, yaml: base)
        try await waitUntilUp(lab)
        _ = try await scrape(lab)  // the first scrape creates the histograms' series
        let on = try await measure(daemon, seconds: window, scraping: lab)
        var quickTimes: [Double] = []
        for _ in 0..<50 { quickTimes.append(try await scrape(lab).seconds) }
        let text = try await scrape(lab).body
        print(
            "\n/metrics with 4 WANs: \(quickTimes.count) scrapes, median \(milliseconds(median(quickTimes))) ms, "
                + "p95 \(milliseconds(percentile(quickTimes, 0.95))) ms, max \(milliseconds(quickTimes.max() ?? 0)) ms "
                + "(\(text.split(separator: "\n").count) lines)")
        print("daemon, API on, scraped every 5 s:  CPU \(percent(on.cpu)) of a core, RSS \(on.rssMB) (max \(on.maxRssMB))")
        await daemon.stop()

        // 2. Both again with the binary read from disk, as after a boot: a binary fresh off the
        // linker sits in the page cache in large folios, and every code page the daemon touches
        // maps its whole folio (measured: 178 kB per touched page, against the 64 kB of the
        // kernel's fault-around once the file's cache was dropped).
        evictPageCache(binary)
        daemon = try await start(lab, binary: binary, yaml: base)
        try await waitUntilUp(lab)
        let coldOn = try await measure(daemon, seconds: window, scraping: lab)
        print(
            "the same, binary read from disk:    CPU \(percent(coldOn.cpu)) of a core, RSS \(coldOn.rssMB) (max \(coldOn.maxRssMB))"
        )
        await daemon.stop()

        // 3. API off, same lab, same probes, binary read from disk.
        evictPageCache(binary)
        daemon = try await start(lab, binary: binary, yaml: base + "api:\n  listen: none\n")
        try await waitUntilUp(lab)
        let off = try await measure(daemon, seconds: window, scraping: nil)
        print(
            "daemon, API off, binary from disk:  CPU \(percent(off.cpu)) of a core, RSS \(off.rssMB) (max \(off.maxRssMB))")
        await daemon.stop()

        // 4. API on with `entries` conntrack entries on the router.
        daemon = try await start(lab, binary: binary, yaml: base)
        try await waitUntilUp(lab)
        try lab.router.sysctl("net.netfilter.nf_conntrack_udp_timeout", "600")
        let sent = try await flood(lab, count: entries)
        let count = try conntrackCount(lab)
        var bigTimes: [Double] = []
        var total = 0
        for _ in 0..<10 {
            let answer = try await scrape(lab)
            bigTimes.append(answer.seconds)
            total = answer.body.split(separator: "\n").filter { $0.hasPrefix("braid_wan_connections{") }
                .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
        }
        print(
            "\n/metrics with \(count) conntrack entries on the router (\(sent) UDP flows sent; braid_wan_connections adds up to \(total)): "
                + "10 scrapes, median \(milliseconds(median(bigTimes))) ms, max \(milliseconds(bigTimes.max() ?? 0)) ms")
        let dump = try dumpTime(lab)
        print("one ctnetlink dump of that table alone, in this process: \(milliseconds(dump)) ms")
        await daemon.stop()
    }

    static func start(_ lab: Lab, binary: String, yaml: String) async throws -> LabDaemon {
        let daemon = try LabDaemon(lab: lab, binary: binary, configPath: try lab.writeFile("braid.yaml", yaml))
        try await daemon.waitForLog("running", timeout: .seconds(30))
        return daemon
    }

    /// Drops `path`'s pages from the page cache (none of it is mapped: no daemon runs).
    static func evictPageCache(_ path: String) {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return print("warning: cannot open \(path) to drop its page cache") }
        defer { close(descriptor) }
        if posix_fadvise(descriptor, 0, 0, Int32(POSIX_FADV_DONTNEED)) != 0 { print("warning: posix_fadvise failed") }
    }

    static func waitUntilUp(_ lab: Lab) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            let socket = GatewayDaemon.statusSocketPath(stateDirectory: lab.stateDirectory)
            if let status = StatusSocketServer.read(path: socket), status.wans.count == 4,
                status.wans.allSatisfy({ $0.state == .up })
            {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw LabError("the 4 WANs did not all come up")
    }

    struct Usage {
        var cpu: Double
        var rssMB: String
        var maxRssMB: String
    }

    /// CPU share of one core and RSS of the daemon over `seconds`, scraping `/metrics` every 5 s
    /// when `scraping` is given.
    static func measure(_ daemon: LabDaemon, seconds: Int, scraping: Lab?) async throws -> Usage {
        // Let start-up pass before measuring: the first apply, the first scrape, and the release
        // of the code pages touched while starting, 5 s after start (GatewayDaemon); the peak
        // of that start-up is reported on its own (VmHWM).
        try await Task.sleep(for: .seconds(7))
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let startCPU = try cpuTicks(daemon.pid)
        let started = ContinuousClock.now
        var maxRss = 0
        var elapsed = 0
        while elapsed < seconds {
            if let scraping { _ = try await scrape(scraping) }
            for _ in 0..<5 {
                try await Task.sleep(for: .seconds(1))
                maxRss = max(maxRss, try rssKB(daemon.pid))
            }
            elapsed += 5
        }
        let wall = (ContinuousClock.now - started)
        let wallSeconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
        let cpu = Double(try cpuTicks(daemon.pid) - startCPU) / ticks / wallSeconds
        return Usage(
            cpu: cpu,
            rssMB: String(format: "%.1f MB", Double(try rssKB(daemon.pid)) / 1024) + " (\(try breakdown(daemon.pid)))",
            maxRssMB: String(format: "%.1f MB; %.1f MB at the peak of start-up", Double(maxRss) / 1024,
                Double(try rssKB(daemon.pid, field: "VmHWM")) / 1024) + helperUsage(of: daemon.pid))
    }

    /// The daemon's braid-nft-session helper (a child process, not in the daemon's RSS): its RSS
    /// and CPU since it started, or "" when the daemon runs none.
    static func helperUsage(of daemon: Int32) -> String {
        let processes = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in processes {
            guard let pid = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                stat.contains("(braid-nft-sessi)"),
                let ppid = stat.split(separator: ")").last?.split(separator: " ").dropFirst().first.flatMap({ Int32($0) }),
                ppid == daemon, let rss = try? rssKB(pid), let ticks = try? cpuTicks(pid)
            else { continue }
            return String(
                format: "; its braid-nft-session helper beside it: RSS %.1f MB, %.2f s of CPU in all", Double(rss) / 1024,
                Double(ticks) / Double(sysconf(Int32(_SC_CLK_TCK))))
        }
        return ""
    }

    static func cpuTicks(_ pid: Int32) throws -> Int {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat.split(separator: ")").last!.split(separator: " ")
        // After the name: state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(11) stime(12).
        return Int(fields[11])! + Int(fields[12])!
    }

    static func rssKB(_ pid: Int32, field: String = "VmRSS") throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("\(field):") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    }

    /// "anonymous A MB (heap, stacks), file-backed F MB (the binary and the Swift libraries' pages), T threads".
    static func breakdown(_ pid: Int32) throws -> String {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let threads = status.split(separator: "\n").first { $0.hasPrefix("Threads:") }?.split(separator: "\t").last ?? "?"
        return String(
            format: "anonymous %.1f MB, file-backed %.1f MB, %@ threads", Double(try rssKB(pid, field: "RssAnon")) / 1024,
            Double(try rssKB(pid, field: "RssFile")) / 1024, String(threads) as NSString)
    }

    /// One `GET /metrics` from inside the router's namespace, timed from connect to the last byte.
    static func scrape(_ lab: Lab) async throws -> (seconds: Double, body: String) {
        try await NamespaceThread.run(in: lab.router.name) {
            let started = ContinuousClock.now
            let socket = try LabSocket.tcpConnect(to: IPv4Address("127.0.0.1")!, port: 9180, timeout: 10)
            defer { socket.close() }
            try socket.send("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(socket.descriptor, $0.baseAddress, $0.count, 0) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                data += buffer[..<count]
            }
            let elapsed = ContinuousClock.now - started
            let text = String(decoding: data, as: UTF8.self)
            guard text.hasPrefix("HTTP/1.1 200") else { throw LabError("scrape failed: \(text.prefix(200))") }
            let body = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
            return (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18, body)
        }
    }

    /// `count` UDP flows from the LAN host to the internet host (4 source ports × distinct
    /// destination ports), each a conntrack entry on the router carrying its WAN's mark.
    static func flood(_ lab: Lab, count: Int) async throws -> Int {
        let sent = try await NamespaceThread.run(in: lab.lanHosts[0].name) { () -> Int in
            let perSocket = (count + 3) / 4
            var sent = 0
            for _ in 0..<4 {
                let socket = try LabSocket.udp()
                defer { socket.close() }
                for port in 0..<perSocket where sent < count {
                    try socket.sendDatagramBytes([0x42], to: Lab.serverAddress, port: UInt16(10_000 + port % 55_000))
                    sent += 1
                }
            }
            return sent
        }
        try await Task.sleep(for: .seconds(2))
        return sent
    }

    static func conntrackCount(_ lab: Lab) throws -> Int {
        Int(
            try lab.router.run(["cat", "/proc/sys/net/netfilter/nf_conntrack_count"]).trimmingCharacters(
                in: .whitespacesAndNewlines))
            ?? 0
    }

    static func dumpTime(_ lab: Lab) throws -> Double {
        let kernel = LinuxKernel(runner: lab.router.runner)
        let started = ContinuousClock.now
        _ = try kernel.countConnectionsByMark(mask: KernelLayoutConfig.defaultMarkMask)
        let elapsed = ContinuousClock.now - started
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func median(_ values: [Double]) -> Double { percentile(values, 0.5) }
    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * fraction + 0.5))]
    }
    static func milliseconds(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1000) }
    static func percent(_ share: Double) -> String { String(format: "%.2f %%", share * 100) }
}
