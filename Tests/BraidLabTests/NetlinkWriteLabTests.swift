import BraidConfig
import BraidLab
import BraidPlanner
import Foundation
import Testing

@testable import BraidKernel

/// Braid's rtnetlink changes against a real namespace: each rule and route Braid adds, replaces
/// or deletes with its own request leaves the kernel exactly as the `ip` command it stands for
/// does (compared in `ip -d -j` listings), and each refusal names that command and the kernel's reason.
@Suite(.serialized) struct NetlinkWriteLabTests {
    static let rules = [
        PolicyRule(priority: 30001, fwmark: 0x0001_0000, fwmask: 0x00ff_0000, table: 401),
        PolicyRule(family: .ipv6, priority: 30001, fwmark: 0x0001_0000, fwmask: 0x00ff_0000, table: 401),
        PolicyRule(priority: 30000, table: RoutingLayout.mainTable, suppressPrefixLength: 0),
        PolicyRule(family: .ipv6, priority: 30000, table: RoutingLayout.mainTable, suppressPrefixLength: 0),
        PolicyRule(priority: 30002, fwmark: 0x7, table: 402),
        PolicyRule(priority: 30003, table: 403),
    ]

    static let routes = [
        Route(table: 401, gateway: IPv4Address("100.98.0.1")!, device: "rtw0"),
        Route(table: 402, destination: IPv4Prefix("198.18.0.0/15")!, gateway: IPv4Address("100.98.0.1")!, device: "rtw0"),
        Route(family: .ipv4, table: 403, gateway: nil, device: "rtw0"),
        Route(family: .ipv6, table: 401, gateway: IPAddress("fe80::1")!, device: "rtw0"),
        Route(
            family: .ipv6, table: 402, destination: IPPrefix("2001:db8:88::/48")!, gateway: IPAddress("2001:db8:66::1")!,
            device: "rtw0"),
        Route(family: .ipv6, table: 403, gateway: nil, device: "rtw0"),
    ]

    @Test func rulesAndRoutesAreInstalledAsIpInstallsThem() async throws {
        try await Lab.with(wanCount: 1, name: "rtw") { lab in
            let router = lab.router
            try Self.addTestLink(router)
            let kernel = LinuxKernel(runner: router.runner)
            let baseline = try Self.listing(router)
            for rule in Self.rules {
                try kernel.perform(.addRule(rule))
                let braids = try Self.listing(router)
                #expect(braids != baseline, "\(rule) was not added")
                try kernel.perform(.deleteRule(rule))
                #expect(try Self.listing(router) == baseline, "\(rule) was not deleted")
                try router.run(rule.command("add") + ["protocol", "213"])
                #expect(try Self.listing(router) == braids, "\(rule): Braid's request and `ip rule add` differ")
                try router.run(rule.command("del") + ["protocol", "213"])
            }
            for route in Self.routes {
                try kernel.perform(.addRoute(route))
                let braids = try Self.listing(router)
                #expect(braids != baseline, "\(route) was not added")
                try kernel.perform(.deleteRoute(route))
                #expect(try Self.listing(router) == baseline, "\(route) was not deleted")
                try router.run(route.command("add") + ["proto", "213"])
                #expect(try Self.listing(router) == braids, "\(route): Braid's request and `ip route add` differ")
                // Replaced (the next hop moves, or a device route becomes one through a gateway).
                var moved = route
                moved.gateway = route.family == .ipv4 ? IPAddress("100.98.0.3")! : IPAddress("fe80::3")!
                try kernel.perform(.replaceRoute(old: route, new: moved))
                let replaced = try Self.listing(router)
                try router.run(route.command("replace") + ["proto", "213"])
                try router.run(moved.command("replace") + ["proto", "213"])
                #expect(try Self.listing(router) == replaced, "\(moved): Braid's replace and `ip route replace` differ")
                try kernel.perform(.deleteRoute(moved))
                #expect(try Self.listing(router) == baseline, "\(moved) was not deleted")
            }
            // And what a real apply reads back: Braid's own reader finds exactly what was added.
            for rule in Self.rules { try kernel.perform(.addRule(rule)) }
            for route in Self.routes { try kernel.perform(.addRoute(route)) }
            let routing = try kernel.readRouting()
            // (A mark with no mask reads back with the kernel's full one.)
            let expected = Self.rules.map { rule in
                var rule = rule
                if rule.fwmark != nil, rule.fwmask == nil { rule.fwmask = 0xffff_ffff }
                return rule
            }
            #expect(Set(routing.policyRules) == Set(expected))
            #expect(Set(routing.routes) == Set(Self.routes))
        }
    }

    @Test func refusalsNameTheIpCommandAndTheKernelsReason() async throws {
        try await Lab.with(wanCount: 1, name: "rtwr") { lab in
            let router = lab.router
            try Self.addTestLink(router)
            let kernel = LinuxKernel(runner: router.runner)
            let rule = Self.rules[0]
            try kernel.perform(.addRule(rule))
            let before = try Self.listing(router)
            let refusals: [(KernelStep, String)] = [
                (.addRule(rule), "File exists"),
                (.deleteRule(PolicyRule(priority: 30009, table: 409)), "No such file or directory"),
                (.addRoute(Route(table: 409, gateway: IPv4Address("10.77.0.1")!, device: "rtw0")), "gateway"),
                (.addRoute(Route(table: 409, gateway: IPv4Address("100.98.0.1")!, device: "nosuch0")), "no interface named nosuch0"),
                (.deleteRoute(Route(table: 409, gateway: IPv4Address("100.98.0.1")!, device: "rtw0")), "No such process"),
            ]
            for (step, reason) in refusals {
                do {
                    try kernel.perform(step)
                    Issue.record("\(step) was not refused")
                } catch let error as KernelError {
                    guard case .refused(let request, let said) = error else {
                        Issue.record("\(step): \(error)")
                        continue
                    }
                    #expect(said.contains(reason), "\(step): \(said)")
                    #expect(request.first == "ip" && request.contains("213"), "\(request)")
                    // The command named fails the same way when `ip` runs it.
                    let result = try router.runner.run(request)
                    #expect(result.status != 0, "`\(request.joined(separator: " "))` succeeded")
                    #expect("\(error)".hasPrefix("the kernel refused `ip "), "\(error)")
                }
            }
            #expect(try Self.listing(router) == before, "a refused request changed something")
        }
    }

    @Test func aKeptNamespaceThreadChangesAndReadsTheSameNamespace() async throws {
        try await Lab.with(wanCount: 1, name: "rtwk") { lab in
            let router = lab.router
            try Self.addTestLink(router)
            let kept = LinuxKernel(runner: NamespacedCommandRunner(namespace: router.name, keepsNamespaceThread: true))
            let fresh = LinuxKernel(runner: router.runner)
            // From several callers at once: each request runs whole, on the one thread, in the namespace.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for route in Self.routes { group.addTask { try kept.perform(.addRoute(route)) } }
                try await group.waitForAll()
            }
            #expect(Set(try kept.readRouting().routes) == Set(Self.routes))
            #expect(try kept.readHostFacts() == fresh.readHostFacts())
            #expect(try kept.readRouting() == fresh.readRouting())
        }
    }

    /// rtw0 (100.98.0.2/24, 2001:db8:66::2/64) up, with its peer rtw1 up in the same namespace.
    static func addTestLink(_ router: NetworkNamespace) throws {
        try router.ip([
            ["link", "add", "rtw0", "type", "veth", "peer", "name", "rtw1"],
            ["address", "add", "100.98.0.2/24", "dev", "rtw0"],
            ["link", "set", "rtw0", "up"], ["link", "set", "rtw1", "up"],
        ])
        try router.run(["ip", "-6", "address", "add", "2001:db8:66::2/64", "dev", "rtw0", "nodad"])
    }

    /// Every rule of both families and the routes of tables 400–409, as `ip -d -j` lists them.
    static func listing(_ router: NetworkNamespace) throws -> String {
        var text = ""
        for family in ["-4", "-6"] {
            text += try router.run(["ip", family, "-d", "-j", "rule", "show"]) + "\n"
            let routes = try JSONSerialization.jsonObject(
                with: Data(router.run(["ip", family, "-d", "-j", "route", "show", "table", "all"]).utf8))
            let ours = (routes as? [[String: Any]] ?? []).filter { route in
                guard let table = Int("\(route["table"] ?? "")") else { return false }
                return (400..<410).contains(table)
            }
            text += String(decoding: try JSONSerialization.data(withJSONObject: ours, options: .sortedKeys), as: UTF8.self)
        }
        return text
    }
}
