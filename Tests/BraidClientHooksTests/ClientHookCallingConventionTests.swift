import BraidClientHooks
import Foundation
import Testing

/// The installed hook texts run in `sh` as the clients run them: dhclient-script and
/// dhcpcd-run-hooks *source* theirs with `$interface`, `$reason`, `$new_ip_address` and
/// `$new_routers` set; pppd's ip-up passes `interface tty speed local remote ipparam`, and Debian's
/// ip-up exports `PPP_IFACE`, `PPP_LOCAL`, `PPP_REMOTE` (…) to the ip-up.d scripts it runs. A
/// stand-in `braid` records the arguments it was given.
@Suite struct ClientHookCallingConventionTests {
    struct Scratch {
        let root = NSTemporaryDirectory() + "braid-convention-\(UUID().uuidString)"
        var braid: String { root + "/braid" }
        var calls: String { root + "/calls" }

        init() throws {
            for directory in [
                "etc/dhcp/dhclient-exit-hooks.d", "usr/lib/dhcpcd/dhcpcd-hooks", "etc/ppp/ip-up.d", "etc/ppp/ip-down.d",
            ] {
                try FileManager.default.createDirectory(atPath: "\(root)/\(directory)", withIntermediateDirectories: true)
            }
            // One argument per line, then a separator, so quoting mistakes show.
            try "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done >> '\(calls)'\necho --- >> '\(calls)'\nexit 7\n"
                .write(toFile: braid, atomically: true, encoding: .utf8)
            chmod(braid, 0o755)
            _ = try ClientHookInstaller(root: root, braidPath: braid, stateDirectory: "/run/braid state").install()
        }

        func run(_ script: String, environment: [String: String]) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", script]
            process.environment = ["PATH": "/usr/bin:/bin"].merging(environment) { _, given in given }
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }

        var recorded: [String] {
            (try? String(contentsOfFile: calls, encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
        }
    }

    @Test func dhclientSourcesItsHookAndCarriesOn() throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch.root) }
        // As dhclient-script's run_hook: `. $script`, then the script goes on (here: echoes the status).
        let status = try scratch.run(
            ". '\(scratch.root)/etc/dhcp/dhclient-exit-hooks.d/braid'; echo sourced $? >> '\(scratch.calls)'",
            environment: [
                "interface": "wan2", "reason": "BOUND", "new_ip_address": "100.64.2.2", "new_routers": "100.64.2.1 100.64.2.9",
            ])
        #expect(status == 0)
        #expect(
            scratch.recorded == [
                "hooks", "report", "--client", "dhclient", "--state-dir", "/run/braid state", "--interface", "wan2", "--reason",
                "BOUND",
                "--address", "100.64.2.2", "--router", "100.64.2.1 100.64.2.9", "---", "sourced 0",
            ])
    }

    @Test func dhcpcdSourcesItsHookWithNothingSet() throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch.root) }
        let status = try scratch.run(". '\(scratch.root)/usr/lib/dhcpcd/dhcpcd-hooks/90-braid'", environment: [:])
        #expect(status == 0, "a hook called with nothing set must not fail the client")
        #expect(scratch.recorded.contains("dhcpcd"))
    }

    @Test func pppdRunsIpUpWithArgumentsOrDebiansEnvironment() throws {
        let scratch = try Scratch()
        defer { try? FileManager.default.removeItem(atPath: scratch.root) }
        let up = "\(scratch.root)/etc/ppp/ip-up.d/braid"
        // pppd's own call: six arguments.
        #expect(try scratch.run("'\(up)' ppp0 /dev/ttyS0 115200 100.64.9.2 100.64.9.1 dsl", environment: [:]) == 0)
        // Debian's /etc/ppp/ip-up: run-parts, no arguments, PPP_* exported.
        #expect(
            try scratch.run(
                "run-parts '\(scratch.root)/etc/ppp/ip-down.d'",
                environment: [
                    "PPP_IFACE": "ppp0", "PPP_TTY": "/dev/ttyS0", "PPP_SPEED": "115200", "PPP_LOCAL": "100.64.9.2",
                    "PPP_REMOTE": "100.64.9.1", "PPP_IPPARAM": "dsl",
                ]) == 0)
        let calls = scratch.recorded.split(separator: "---").map(Array.init)
        #expect(calls.count == 2)
        #expect(
            calls.first?.suffix(8) == [
                "--interface", "ppp0", "--reason", "ip-up", "--address", "100.64.9.2", "--router", "100.64.9.1",
            ])
        #expect(
            calls.last?.suffix(8) == [
                "--interface", "ppp0", "--reason", "ip-down", "--address", "100.64.9.2", "--router", "100.64.9.1",
            ])
    }
}
