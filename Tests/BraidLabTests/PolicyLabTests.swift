import BraidConfig
import BraidKernel
import BraidLab
import Foundation
import Testing

extension LabTests {
    /// Policy rules, sticky clients and port forwards, with real packets.
    @Suite struct Policy {
        static func counts(
            _ lab: Lab, from host: NetworkNamespace, count: Int = 40, port: UInt16 = Lab.serverPort,
            source: IPv4Address? = nil
        ) async throws -> [String: Int] {
            lab.countByWan(try await LabTraffic.newConnections(from: host, count: count, port: port, source: source))
        }

        @Test("Rules by source, by protocol and port range, by destination set, by prefix; first match wins")
        func ruleKinds() async throws {
            try await Lab.with(wanCount: 3, lanHostCount: 2, name: "rule") { lab in
                let setFile = try lab.writeFile("streaming.txt", "# streaming CDN\n198.19.0.11\n192.0.2.0/24\n")
                try lab.internet.ip([["address", "add", "198.19.0.12/32", "dev", "lo"]])
                let yaml =
                    lab.configYAML() + """
                        sets:
                          streaming: { file: \(setFile) }
                        rules:
                          - name: second-host
                            source: \(lab.lanHostAddress(1))
                            use: [isp3]
                          - name: game-ports
                            protocol: tcp
                            destination_port: 8080-8081
                            use: [isp2]
                          - name: streaming
                            destination_set: streaming
                            use: [isp1]
                          - name: never-reached
                            source: \(lab.lanHostAddress(1))
                            use: [isp1]

                        """
                try lab.applyExpectingSuccess(yaml)
                // The source rule comes first: host 2 uses isp3 even on the game port.
                #expect(try await Self.counts(lab, from: lab.lanHosts[1]) == ["isp3": 40])
                // Host 1 on TCP 8080: the port rule.
                #expect(try await Self.counts(lab, from: lab.lanHosts[0]) == ["isp2": 40])
                // UDP to the same port is not TCP: balanced over all three.
                var udp: [String: Int] = [:]
                for _ in 0..<60 {
                    udp[lab.wan(forPeer: try await LabTraffic.udpRequest(from: lab.lanHosts[0]))?.name ?? "failed", default: 0] +=
                        1
                }
                #expect(udp.keys.count == 3 && udp["failed"] == nil, "UDP: \(udp)")
                // The set (from a file) catches 198.19.0.11 — but its port 8080 rule comes first, so use port 53 (UDP).
                try lab.applyExpectingSuccess(
                    yaml.replacingOccurrences(of: "destination_port: 8080-8081", with: "destination_port: 9000-9001"))
                let inSet = lab.countByWan(
                    try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 30, to: Lab.secondServerAddress))
                #expect(inSet == ["isp1": 30], "198.19.0.11 is in the set (read from a file): \(inSet)")
                let notInSet = lab.countByWan(
                    try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 30, to: IPv4Address("198.19.0.12")!))
                #expect(notInSet.keys.count > 1, "198.19.0.12 is not in the set, so it is balanced: \(notInSet)")
            }
        }

        @Test("Rules of alternating shapes: the first matching rule wins across shapes, with one lookup per shape")
        func alternatingShapes() async throws {
            try await Lab.with(wanCount: 3, lanHostCount: 2, name: "rank") { lab in
                let yaml =
                    lab.configYAML() + """
                        rules:
                          - name: host2-web
                            source: \(lab.lanHostAddress(1))
                            protocol: tcp
                            destination_port: \(Lab.serverPort)
                            use: [isp3]
                          - name: to-server
                            destination: \(Lab.serverAddress)/32
                            use: [isp2]
                          - name: host1
                            source: \(lab.lanHostAddress(0))
                            use: [isp1]
                          - name: host2
                            source: \(lab.lanHostAddress(1))
                            use: [isp1]
                          - name: to-second-server
                            destination: \(Lab.secondServerAddress)/32
                            use: [isp3]

                        """
                try lab.applyExpectingSuccess(yaml)
                // Host 2 to the server: three rules of three shapes match; the first one wins.
                #expect(try await Self.counts(lab, from: lab.lanHosts[1]) == ["isp3": 40])
                // Host 1 to the server: a destination rule and a later source rule match; the earlier one wins.
                #expect(try await Self.counts(lab, from: lab.lanHosts[0]) == ["isp2": 40])
                // Host 1 to the second server: the source rule comes before that destination rule.
                let second = lab.countByWan(
                    try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 30, to: Lab.secondServerAddress))
                #expect(second == ["isp1": 30], "\(second)")
                // The kernel's chain: the worst rank, one lookup per shape (src, dst, src+port), the dispatch, the clean-up.
                let chain = try lab.router.run(["nft", "list", "chain", "inet", "braid", "traffic_rules"])
                let lookups = chain.split(separator: "\n").filter { $0.contains(" map @rules_") }
                #expect(lookups.count == 3, "\(chain)")
                #expect(chain.contains("ct mark vmap @rule_verdicts"), "\(chain)")
                // Nothing of the scratch register is left on the connections.
                let marks = try lab.router.run(["conntrack", "-L", "-d", "\(Lab.secondServerAddress)"])
                #expect(!marks.contains("mark=4294967295") && !marks.contains("mark=3 "), "\(marks)")
            }
        }

        @Test("Traffic between LAN subnets takes no WAN: rules (even drop) and the split leave it alone")
        func lanToLanIsNotBalanced() async throws {
            try await Lab.with(wanCount: 2, name: "l2l", guestLan: true) { lab in
                let guest = try #require(lab.guestHost)
                try lab.startServer(in: guest, identity: "guest-server")
                try lab.startServer(in: lab.lanHosts[0], identity: "lan-server")
                try lab.applyExpectingSuccess(
                    lab.configYAML() + """
                        rules:
                          - name: no-internet
                            source: \(lab.lanHostAddress(0))
                            use: [drop]

                        """)
                // The rule keeps the host off the internet…
                let internet = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 5, timeout: 0.5)
                #expect(internet.allSatisfy { $0.hasPrefix("failed") }, "\(internet)")
                // …but the guest subnet is not the internet: main routes it, no rule applies.
                let local = try await LabTraffic.newConnections(from: lab.lanHosts[0], count: 20, to: Lab.guestHostAddress)
                #expect(local.allSatisfy { $0.contains("guest-server") }, "\(local)")
                let guestToLan = try await LabTraffic.newConnections(from: guest, count: 20, to: lab.lanHostAddress(0))
                #expect(guestToLan.allSatisfy { $0.contains("lan-server") }, "\(guestToLan)")
                // And those connections carry no WAN mark (they would count as a WAN's in status).
                let marked = try lab.router.run(["conntrack", "-L", "-d", "\(Lab.guestHostAddress)", "-m", "0/0xff000000"])
                let unmarkedCount = marked.split(separator: "\n").count
                #expect(unmarkedCount >= 20, "LAN-to-LAN connections with no Braid mark: \(unmarkedCount)\n\(marked)")
            }
        }

        @Test("Destination prefix and main: the main routing table decides")
        func destinationAndMain() async throws {
            try await Lab.with(wanCount: 2, name: "main") { lab in
                // The router's main table has a default route via isp2, as a VPN or a static route would.
                try lab.router.ip([["route", "add", "default", "via", "\(lab.wans[1].gateway)"]])
                let yaml =
                    lab.configYAML() + """
                        rules:
                          - name: office
                            destination: \(Lab.serverAddress)/32
                            use: [main]

                        """
                try lab.applyExpectingSuccess(yaml)
                #expect(try await Self.counts(lab, from: lab.lanHosts[0]) == ["isp2": 40])
                try lab.applyExpectingSuccess(yaml.replacingOccurrences(of: "use: [main]", with: "use: [isp1]"))
                #expect(try await Self.counts(lab, from: lab.lanHosts[0]) == ["isp1": 40])
                // The router's own traffic follows destination rules too.
                #expect(try await Self.counts(lab, from: lab.router) == ["isp1": 40])
            }
        }

        @Test("A rule falls back in order when its preferred WAN is down; with no usable WAN it falls through, or drops")
        func fallbackOrder() async throws {
            try await Lab.with(wanCount: 3, name: "fall") { lab in
                let health = "{ targets: [\(Lab.serverAddress)], interval: 100ms, timeout: 200ms }"
                let rules = """
                    rules:
                      - name: pinned
                        destination: \(Lab.serverAddress)/32
                        use: [isp1, isp2]
                      - name: strict
                        destination: \(Lab.secondServerAddress)/32
                        use: [isp1, drop]

                    """
                let path = try lab.writeFile("braid.yaml", lab.configYAML(extraWanKeys: ["health": health]) + rules)
                let daemon = try LabDaemon(lab: lab, binary: try BraidExecutable.path, configPath: path)
                try await daemon.waitForLog("running")
                #expect(try await Self.counts(lab, from: lab.lanHosts[0]) == ["isp1": 40])
                try lab.cutUpstream(lab.wans[0])
                try await lab.waitForWan("isp1", .down)
                #expect(try await Self.counts(lab, from: lab.lanHosts[0]) == ["isp2": 40])
                // explain reads the daemon's live health.
                let explained = try lab.runBraid(
                    try BraidExecutable.path,
                    [
                        "explain", "-c", path, "--state-dir", lab.stateDirectory,
                        "--from", "\(lab.lanHostAddress(0))", "--to", "\(Lab.serverAddress)",
                    ])
                #expect(
                    explained.standardOutput.contains("matches, but isp1 is not usable")
                        && explained.standardOutput.contains("leaves by isp2"),
                    "\(explained.standardOutput)")
                let strict = try await LabTraffic.newConnections(
                    from: lab.lanHosts[0], count: 5, to: Lab.secondServerAddress, timeout: 0.5)
                #expect(strict.allSatisfy { $0.hasPrefix("failed") }, "`drop` must refuse: \(strict)")
                try lab.cutUpstream(lab.wans[1])
                try await lab.waitForWan("isp2", .down)
                // Both preferred WANs down: the rule is skipped and the balanced pool (isp3) takes it.
                #expect(try await Self.counts(lab, from: lab.lanHosts[0]) == ["isp3": 40])
            }
        }

        @Test("Sticky: one client's connections all leave by one WAN; removing a WAN moves only that WAN's clients")
        func stickyClients() async throws {
            try await Lab.with(wanCount: 3, name: "stick") { lab in
                let clients = (0..<48).map { IPv4Address(Lab.routerLanAddress.value + 100 + UInt32($0)) }
                try lab.lanHosts[0].ip(clients.map { ["address", "add", "\($0)/24", "dev", "eth0"] })
                let yaml = "sticky: source\n" + lab.configYAML()
                try lab.applyExpectingSuccess(yaml)
                let oneClient = try await Self.counts(lab, from: lab.lanHosts[0], count: 100, source: clients[0])
                #expect(oneClient.count == 1 && oneClient.values.first == 100, "one client, several WANs: \(oneClient)")
                var before: [IPv4Address: String] = [:]
                for client in clients {
                    let counts = try await Self.counts(lab, from: lab.lanHosts[0], count: 3, source: client)
                    #expect(counts.count == 1, "\(client): \(counts)")
                    before[client] = counts.keys.first
                }
                #expect(Set(before.values).count == 3, "48 clients should spread over 3 WANs: \(before.values)")
                // Remove isp3 from the config (the others keep their marks: isp3 is last).
                let withoutIsp3 = "sticky: source\n" + lab.configYAML().components(separatedBy: "  - name: isp3")[0]
                try lab.applyExpectingSuccess(withoutIsp3)
                for client in clients {
                    let counts = try await Self.counts(lab, from: lab.lanHosts[0], count: 2, source: client)
                    let now = try #require(counts.keys.first)
                    if before[client] != "isp3" {
                        #expect(
                            now == before[client], "\(client) moved from \(before[client] ?? "?") to \(now) though its WAN stayed"
                        )
                    } else {
                        #expect(now != "isp3")
                    }
                }
            }
        }

        @Test("A port forward answers on every WAN it names, replies leave by the arrival WAN, backends share by weight")
        func portForwardInbound() async throws {
            try await Lab.with(wanCount: 2, lanHostCount: 2, name: "pfw") { lab in
                try lab.startServer(in: lab.lanHosts[0], identity: "backend-a")
                try lab.startServer(in: lab.lanHosts[1], identity: "backend-b")
                let yaml =
                    lab.configYAML() + """
                        port_forwards:
                          - name: web
                            protocol: tcp
                            port: 8081
                            to: [\(lab.lanHostAddress(0)):\(Lab.serverPort), \(lab.lanHostAddress(1)):\(Lab.serverPort)@3]

                        """
                try lab.applyExpectingSuccess(yaml)
                var backends: [String: Int] = [:]
                for wan in lab.wans {
                    // The internet host reaches each WAN through that WAN's ISP; an answer that left by the
                    // other WAN would be dropped by that ISP's anti-spoofing filter.
                    let answers = try await LabTraffic.newConnections(
                        from: lab.internet, count: 200, to: wan.routerAddress, port: 8081)
                    #expect(
                        answers.allSatisfy { $0.hasPrefix("\(wan.internetSideAddress) ") }, "via \(wan.name): \(Set(answers))")
                    for answer in answers { backends[String(answer.split(separator: " ").last ?? ""), default: 0] += 1 }
                }
                // 400 connections, weight 1:3: backend-a expects 100 ± 5 binomial deviations.
                let tolerance = binomialTolerance(trials: 400, probability: 0.25)
                #expect(abs(Double(backends["backend-a", default: 0]) - 100) <= tolerance, "backends: \(backends)")
                #expect(backends.values.reduce(0, +) == 400)
            }
        }

        @Test("Hairpin: LAN clients on the backend's subnet and on another subnet, and the router, use the public address")
        func hairpin() async throws {
            try await Lab.with(wanCount: 2, lanHostCount: 2, name: "hair", guestLan: true) { lab in
                try lab.startServer(in: lab.lanHosts[1], identity: "backend")
                let yaml =
                    lab.configYAML() + """
                        port_forwards:
                          - name: web
                            wans: [isp1]
                            protocol: tcp
                            port: 8081
                            to: \(lab.lanHostAddress(1)):\(Lab.serverPort)

                        """
                try lab.applyExpectingSuccess(yaml)
                let publicAddress = lab.wans[0].routerAddress
                for (host, label) in [(lab.lanHosts[0], "same subnet"), (lab.guestHost!, "other subnet"), (lab.router, "router")]
                {
                    let answers = try await LabTraffic.newConnections(from: host, count: 10, to: publicAddress, port: 8081)
                    #expect(answers.allSatisfy { $0.hasSuffix(" backend") }, "\(label): \(answers)")
                }
                // Only isp1 forwards: isp2's address does not answer on 8081.
                let other = try await LabTraffic.newConnections(
                    from: lab.internet, count: 1, to: lab.wans[1].routerAddress, port: 8081, timeout: 0.5)
                #expect(other[0].hasPrefix("failed"))
            }
        }

        @Test(
            "Bad rules exit 2, name the key, and change nothing",
            arguments: [
                ("rules[0].use[0]", "rules:\n  - name: r\n    source: 10.77.0.5\n    use: [isp9]\n"),
                ("rules[0].source", "rules:\n  - name: r\n    source: 10.77.0.0/8\n    use: [isp1]\n"),
                (
                    "rules[0].destination_port",
                    "rules:\n  - name: r\n    protocol: tcp\n    destination_port: 70000\n    use: [isp1]\n"
                ),
                ("rules[0].destination_set", "rules:\n  - name: r\n    destination_set: nothing\n    use: [isp1]\n"),
                ("sets.block.file", "sets:\n  block: { file: /nonexistent/block.txt }\n"),
                ("port_forwards[0].to", "port_forwards:\n  - name: web\n    port: 80\n    to: 10.77.0.2:99999\n"),
            ])
        func badRules(key: String, extra: String) async throws {
            try await Lab.with(wanCount: 2, name: "badr") { lab in
                let before = try lab.routerSnapshot()
                let path = try lab.writeFile("bad.yaml", lab.configYAML() + extra)
                let result = try lab.runBraid(try BraidExecutable.path, ["apply", "-c", path])
                #expect(result.status == 2, "exit \(result.status): \(result.standardError)")
                #expect(result.standardError.contains(key), "stderr does not name \(key): \(result.standardError)")
                #expect(try lab.routerSnapshot() == before)
            }
        }
    }
}

extension LabTests.Policy {
    @Test("braid explain names the rule and the WAN a flow really takes, including a sticky client's WAN")
    func explainMatchesReality() async throws {
        try await Lab.with(wanCount: 3, name: "expl") { lab in
            let clients = (0..<12).map { IPv4Address(Lab.routerLanAddress.value + 100 + UInt32($0)) }
            try lab.lanHosts[0].ip(clients.map { ["address", "add", "\($0)/24", "dev", "eth0"] })
            let yaml =
                "sticky: source\n" + lab.configYAML() + """
                    rules:
                      - name: dns-via-isp2
                        protocol: udp
                        destination_port: 53
                        use: [isp2]

                    """
            let path = try lab.writeFile("braid.yaml", yaml)
            try lab.applyExpectingSuccess(yaml)
            for client in clients {
                let observed = try #require(
                    try await Self.counts(lab, from: lab.lanHosts[0], count: 2, source: client).keys.first)
                let result = try lab.runBraid(
                    try BraidExecutable.path,
                    [
                        "explain", "-c", path, "--from", "\(client)", "--to", "\(Lab.serverAddress)",
                        "--proto", "tcp", "--dport", "\(Lab.serverPort)",
                    ])
                #expect(result.status == 0, "\(result.standardError)")
                #expect(
                    result.standardOutput.contains("leaves by \(observed) (sticky"),
                    "\(client) went by \(observed); explain said:\n\(result.standardOutput)")
                #expect(result.standardOutput.contains("rule 1 \"dns-via-isp2\": no match (protocol is tcp, not udp)"))
            }
            let dns = try lab.runBraid(
                try BraidExecutable.path,
                ["explain", "-c", path, "--from", "\(clients[0])", "--to", "192.0.2.53", "--proto", "udp", "--dport", "53"])
            #expect(dns.standardOutput.contains("leaves by isp2 (rule 1 \"dns-via-isp2\")"), "\(dns.standardOutput)")
            let bad = try lab.runBraid(
                try BraidExecutable.path, ["explain", "-c", path, "--from", "10.77.0.300", "--to", "192.0.2.53"])
            #expect(bad.status == 2 && bad.standardError.contains("--from"))
        }
    }
}
