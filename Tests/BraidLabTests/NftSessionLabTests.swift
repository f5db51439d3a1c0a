import BraidLab
import Foundation
import Testing

@testable import BraidKernel

/// The braid-nft-session helper against a real namespace: it runs scripts as one transaction each
/// and reports nft's errors, sees another program's change to the table, runs in the namespace it
/// was started for, is replaced after it dies (saying the transaction's fate is unknown), and
/// ends when its runner goes.
@Suite(.serialized) struct NftSessionLabTests {
    @Test func theHelperRunsScriptsReportsErrorsSurvivesItsDeathAndEndsWithItsRunner() async throws {
        try await Lab.with(wanCount: 1, name: "nfts") { lab in
            let router = lab.router
            var helper: pid_t = 0
            do {
                let runner = NamespacedCommandRunner(namespace: router.name, keepsNftSession: true)
                let session = try #require(runner.nftSession)
                // A descriptor without close-on-exec, as a daemon's listening socket may be.
                let inherited = open("/dev/null", O_RDONLY)
                defer { close(inherited) }
                let created = try runner.runNftScript("add table inet braid_session_test\nadd chain inet braid_session_test c\n")
                #expect(created.status == 0, "\(created.standardError)")
                helper = try #require(session.helperProcessID, "the helper did not start: is it built beside the tests?")
                #expect(try router.run(["nft", "list", "chains", "inet"]).contains("chain c"))

                // In the router's namespace, not the test's.
                let helperNamespace = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(helper)/ns/net")
                let routerNamespace = try #require(
                    router.run(["readlink", "/proc/self/ns/net"]).split(separator: "\n").first.map(String.init))
                #expect(helperNamespace == routerNamespace)
                // It keeps nothing of its parent's open but its socket and standard error (a
                // daemon's HTTP listener held by it could not be bound again after a reload).
                func openFiles(_ process: String, from first: Int) throws -> Set<String> {
                    let directory = "/proc/\(process)/fd"
                    return Set(
                        try FileManager.default.contentsOfDirectory(atPath: directory).filter { Int($0)! >= first }
                            .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\($0)") })
                }
                let shared = try openFiles("\(helper)", from: 3).intersection(openFiles("self", from: 0))
                #expect(shared.isEmpty, "the helper holds its parent's \(shared)")

                // One transaction: a script that fails halfway leaves nothing of its first half.
                let refused = try runner.runNftScript("add chain inet braid_session_test half\nadd rule inet braid_session_test nosuch drop\n")
                #expect(refused.status == 1)
                #expect(refused.standardError.contains("No such file or directory"), "\(refused.standardError)")
                #expect(try !router.run(["nft", "list", "chains", "inet"]).contains("chain half"))

                // Another program's change is seen: the kept context's cache follows the ruleset generation.
                try router.run(["nft", "add", "chain", "inet", "braid_session_test", "d"])
                let rule = try runner.runNftScript("add rule inet braid_session_test d counter drop\n")
                #expect(rule.status == 0, "\(rule.standardError)")
                #expect(try router.run(["nft", "list", "chain", "inet", "braid_session_test", "d"]).contains("drop"))

                // A helper killed between scripts is replaced, and the script sent to the new one.
                kill(helper, SIGKILL)
                try await Task.sleep(for: .milliseconds(100))
                let resent = try runner.runNftScript("add chain inet braid_session_test e\n")
                #expect(resent.status == 0, "\(resent.standardError)")
                let replacement = try #require(session.helperProcessID)
                #expect(replacement != helper)
                #expect(try router.run(["nft", "list", "chains", "inet"]).contains("chain e"))

                // A helper that dies after it took a script: the script fails, saying its fate is
                // unknown, and the next one runs in a new helper.
                kill(replacement, SIGSTOP)
                let pending = Task.detached { try runner.runNftScript("add chain inet braid_session_test f\n") }
                try await Task.sleep(for: .milliseconds(200))
                kill(replacement, SIGKILL)
                let lost = try await pending.value
                #expect(lost.status == 1)
                #expect(lost.standardError.contains("may or may not have been committed"), "\(lost.standardError)")
                let again = try runner.runNftScript("add chain inet braid_session_test g\n")
                #expect(again.status == 0, "\(again.standardError)")
                helper = try #require(session.helperProcessID)
                #expect(helper != replacement)
                try runner.checkNftScript("delete table inet braid_session_test\n")
            }
            // The runner is gone: its helper saw the end of its input and exited.
            let deadline = ContinuousClock.now + .seconds(3)
            while kill(helper, 0) == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(kill(helper, 0) != 0, "helper \(helper) outlived its runner")
        }
    }
}
