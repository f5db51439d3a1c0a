import BraidConfig
import BraidDaemon
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests {
    /// IPv6 through Braid with real TCP: the dual-stack lab (two IPv6 WANs, one static and one
    /// learned from radvd, and an IPv4-only WAN; ISPs that drop foreign IPv6 sources).
    @Suite struct DualStack {
        /// Which WAN each answer came through, by its IPv6 prefix ("failed"/"other" otherwise).
        static func count(_ answers: [String], _ dual: DualStackLab) -> [String: Int] {
            answers.reduce(into: [:]) { counts, answer in
                let key = answer.hasPrefix("failed") ? "failed" : dual.wanNumber(forPeer: answer).map { "isp\($0)" } ?? answer
                counts[key, default: 0] += 1
            }
        }

        @Test("IPv6 is split over the IPv6 WANs by weight, NATed or prefix-translated per WAN; rules, forwards, down")
        func splitTranslationRulesForwardsAndDown() async throws {
            try await DualStackLab.with(name: "v6split") { dual in
                let lab = dual.lab
                try dual.waitForRouterAdvertisement()
                let before = try dual.routerSnapshot()
                try dual.startLanServer(host: 1, port: 8081)
                let tail = """
                    rules:
                      - { name: v6-pinned, source: "\(dual.lanHostAddress(1))", use: [isp2] }
                    port_forwards:
                      - { name: web6, port: 9080, to: "[\(dual.lanHostAddress(1))]:8081" }

                    """
                try lab.applyExpectingSuccess(dual.configYAML(weights: [2, 1, 1], tail: tail))

                // The split: isp1 : isp2 = 2 : 1, isp3 never (it has no IPv6), nothing lost at a BCP 38 filter.
                let trials = 300
                let answers = try await LabTraffic.newIPv6Connections(
                    from: lab.lanHosts[0], count: trials, to: DualStackLab.serverAddress)
                let counts = Self.count(answers, dual)
                #expect(counts["failed"] == nil && counts["isp3"] == nil, "\(counts)")
                let expected = Double(trials) * 2 / 3
                #expect(
                    abs(Double(counts["isp1", default: 0]) - expected) <= binomialTolerance(trials: trials, probability: 2 / 3),
                    "\(counts)")
                // Prefix translation keeps the host part; masquerade shows the WAN's address.
                let host = dual.lanHostAddress(0)
                let translated = IPv6Address(high: DualStackLab.translatedPrefix.address.ipv6!.high, low: host.low)
                #expect(Set(answers.filter { dual.wanNumber(forPeer: $0) == 1 }) == ["\(translated)"])
                #expect(Set(answers.filter { dual.wanNumber(forPeer: $0) == 2 }) == ["\(dual.routerAddress(2))"])
                // IPv4 still uses all three WANs.
                let v4 = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 60))
                #expect(v4["failed"] == nil && v4.keys.sorted() == ["isp1", "isp2", "isp3"], "\(v4)")

                // A v6 source rule pins the second LAN host to isp2.
                let pinned = Self.count(
                    try await LabTraffic.newIPv6Connections(from: lab.lanHosts[1], count: 30, to: DualStackLab.serverAddress),
                    dual)
                #expect(pinned == ["isp2": 30], "\(pinned)")

                // The router's own IPv6 connections are balanced too, each with its WAN's address.
                let own = try await LabTraffic.newIPv6Connections(from: lab.router, count: 60, to: DualStackLab.serverAddress)
                #expect(Set(own) == ["\(dual.routerAddress(1))", "\(dual.routerAddress(2))"], "\(Self.count(own, dual))")

                // The port forward from the internet, and from the LAN through the public address (hairpin).
                let fromInternet = try await LabTraffic.newIPv6Connections(
                    from: lab.internet, count: 1, to: dual.routerAddress(1), port: 9080)
                #expect(fromInternet == ["\(dual.internetSideAddress(1)) lan2"])
                let hairpin = try await LabTraffic.newIPv6Connections(
                    from: lab.lanHosts[0], count: 1, to: dual.routerAddress(2), port: 9080)
                #expect(hairpin == ["\(DualStackLab.routerLanAddress) lan2"])

                // Keep-alive: one connection keeps its WAN while the weights change under it.
                let kept = try await NamespaceThread.run(in: lab.lanHosts[0].name) { () throws -> [String] in
                    let socket = try LabSocket.tcpConnect6(to: DualStackLab.serverAddress, port: Lab.serverPort)
                    defer { socket.close() }
                    var seen: [String] = []
                    for weights in [[2, 1, 1], [1, 5, 1], [5, 1, 1]] {
                        _ = try lab.applyExpectingSuccess(dual.configYAML(weights: weights, tail: tail))
                        try socket.send("who\n")
                        seen.append(try socket.readLine() ?? "closed")
                    }
                    return seen
                }
                #expect(Set(kept).count == 1 && !kept[0].hasPrefix("closed"), "\(kept)")

                let down = try lab.runBraid(try BraidExecutable.path, ["down"])
                #expect(down.status == 0, "\(down.standardError)")
                let after = try dual.routerSnapshot()
                #expect(after == before, "\(after.differences(from: before))")
            }
        }

        @Test("An RA-learned gateway keeps working well past its router lifetime with forwarding on (accept_ra=2)")
        func routerAdvertisedGatewayOutlivesItsLifetime() async throws {
            try await DualStackLab.with(lanHostCount: 1, name: "v6ra") { dual in
                let lab = dual.lab
                try dual.waitForRouterAdvertisement()
                let wan2 = lab.wans[1].routerInterface
                #expect(try lab.router.run(["sysctl", "-n", "net/ipv6/conf/\(wan2)/accept_ra"]).hasPrefix("1"))
                try lab.applyExpectingSuccess(dual.configYAML(weights: [0, 1, 1]))
                #expect(try lab.router.run(["sysctl", "-n", "net/ipv6/conf/\(wan2)/accept_ra"]).hasPrefix("2"))
                #expect(try lab.router.run(["sysctl", "-n", "net/ipv6/conf/all/forwarding"]).hasPrefix("1"))
                let table = try lab.router.run(["ip", "-6", "route", "show", "table", "201"])
                #expect(table.contains("default via fe80::") && table.contains("dev \(wan2)"), "\(table)")
                // Two and a half router lifetimes: without accept_ra=2 the route would be gone.
                try await Task.sleep(for: DualStackLab.routerLifetime * 2.5)
                #expect(dual.radvdIsRunning, "radvd exited:\n\(dual.radvdOutput)")
                let main = try lab.router.run(["ip", "-6", "route", "show", "default", "dev", wan2])
                #expect(main.contains("proto ra"), "the RA-learned route expired: \(main)")
                let answers = Self.count(
                    try await LabTraffic.newIPv6Connections(from: lab.lanHosts[0], count: 20, to: DualStackLab.serverAddress),
                    dual)
                #expect(answers == ["isp2": 20], "\(answers)")
                #expect(try lab.runBraid(try BraidExecutable.path, ["down"]).status == 0)
                #expect(try lab.router.run(["sysctl", "-n", "net/ipv6/conf/\(wan2)/accept_ra"]).hasPrefix("1"))
                #expect(try lab.router.run(["sysctl", "-n", "net/ipv6/conf/all/forwarding"]).hasPrefix("0"))
                // The control: forwarding on with accept_ra=1 (what Braid would leave without the
                // fix) and the learned route is gone within the same wait. Proves the wait is long enough.
                try lab.router.sysctl("net/ipv6/conf/all/forwarding", "1")
                try await Task.sleep(for: DualStackLab.routerLifetime * 2.5)
                let trapped = try lab.router.run(["ip", "-6", "route", "show", "default", "dev", wan2])
                #expect(!trapped.contains("proto ra"), "the route outlived its lifetime with accept_ra=1: \(trapped)")
                try lab.router.sysctl("net/ipv6/conf/all/forwarding", "0")
            }
        }

        @Test("Cutting one WAN's IPv6 only: new IPv6 connections leave it as fast as IPv4 failover; its IPv4 carries on")
        func ipv6OnlyCutFailsOverIPv6Only() async throws {
            try await DualStackLab.with(lanHostCount: 1, name: "v6cut") { dual in
                let lab = dual.lab
                try dual.waitForRouterAdvertisement()
                let health = "{ targets: [\(Lab.serverAddress), \"\(DualStackLab.serverAddress)\"] }"
                let path = try lab.writeFile(
                    "braid.yaml",
                    dual.configYAML(
                        weights: [1, 1, 1], extraWanKeys: ["health": health],
                        perWan: [3: ["health": "{ targets: [\(Lab.serverAddress)] }"]]))
                let daemon = try LabDaemon(lab: lab, binary: try BraidExecutable.path, configPath: path)
                try await daemon.waitForLog("running", timeout: .seconds(10))
                try await Task.sleep(for: .milliseconds(600))
                let sampler = ConnectionSampler(from: lab.lanHosts[0], ipv6: DualStackLab.serverAddress)
                try await Task.sleep(for: .milliseconds(300))
                let cutAt = ContinuousClock.now
                try dual.cutIPv6Upstream(1)
                let line = try await daemon.waitForLog("isp1 IPv6 is down", timeout: .seconds(5))
                try await Task.sleep(for: .milliseconds(700))
                let samples = await sampler.stop()
                let detection = line.arrivedAt - cutAt
                let lastOnDeadWan = try #require(samples.last { $0.neededRetransmission }, "no IPv6 connection went to isp1")
                let switchTime = lastOnDeadWan.startedAt - cutAt
                print(
                    "IPv6 failover: verdict logged \(detection) after the cut, last new connection to the dead WAN \(switchTime)")
                #expect(switchTime < .milliseconds(1000), "new IPv6 connections still went to isp1 \(switchTime) after the cut")
                let after = samples.filter { $0.startedAt > lastOnDeadWan.startedAt }
                #expect(after.count > 10 && after.allSatisfy { dual.wanNumber(forPeer: $0.answer) == 2 })
                // Its IPv4 still carries new connections, and the daemon says so.
                let v4 = lab.countByWan(try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 60))
                #expect(v4["isp1", default: 0] > 0 && v4["failed"] == nil, "\(v4)")
                let status = try #require(lab.daemonStatus()?.wans.first { $0.name == "isp1" })
                #expect(status.state == .up && status.ipv6State == .down, "\(status)")
                // Healed, its IPv6 comes back.
                try lab.healUpstream(lab.wans[0])
                try await daemon.waitForLog("isp1 IPv6 is up", timeout: .seconds(5))
                #expect(await daemon.stop() == 0)
            }
        }

        @Test("sticky: source keys IPv6 clients on their /64, as `braid explain` predicts")
        func stickyKeysOnTheSlash64() async throws {
            try await DualStackLab.with(lanHostCount: 1, name: "v6sticky") { dual in
                let lab = dual.lab
                try dual.waitForRouterAdvertisement()
                let prefixes = 1...8
                try dual.addLanPrefixes(prefixes)
                let path = try lab.writeFile("braid.yaml", "sticky: source\n" + dual.configYAML())
                try lab.applyExpectingSuccess(try String(contentsOfFile: path, encoding: .utf8))
                var seen: Set<Int> = []
                for number in prefixes {
                    var wans: Set<String> = []
                    for source in ["fd00:\(number)::10", "fd00:\(number)::beef:1"] {
                        let answers = try await LabTraffic.newIPv6Connections(
                            from: lab.lanHosts[0], count: 8, to: DualStackLab.serverAddress, source: IPv6Address(source)!)
                        wans.formUnion(answers.map { dual.wanNumber(forPeer: $0).map { "isp\($0)" } ?? $0 })
                    }
                    #expect(wans.count == 1, "fd00:\(number)::/64 went to \(wans)")
                    let explained = try lab.runBraid(
                        try BraidExecutable.path,
                        ["explain", "-c", path, "--from", "fd00:\(number)::10", "--to", "\(DualStackLab.serverAddress)"])
                    let predicted = explained.standardOutput.split(separator: "\n").last.map(String.init) ?? ""
                    #expect(
                        wans.count == 1 && predicted.hasPrefix("leaves by \(wans.first!)"),
                        "fd00:\(number)::/64: the kernel chose \(wans), explain said \(predicted)")
                    if let wan = wans.first, let number = Int(wan.dropFirst(3)) { seen.insert(number) }
                }
                // Eight /64s over two WANs: both are used (all on one would be 1 in 128 by chance).
                #expect(seen == [1, 2], "\(seen)")
            }
        }
    }
}
