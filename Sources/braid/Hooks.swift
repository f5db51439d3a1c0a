import ArgumentParser
import BraidClientHooks
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `braid hooks install|remove`: Braid's hooks for the DHCP and PPP clients on this host, which
/// report each lease's address and router so `gateway: auto` follows them. (`report` is what the
/// installed hooks run.)
struct Hooks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Install or remove Braid's DHCP/PPP client hooks (dhclient, dhcpcd, pppd).",
        subcommands: [InstallHooks.self, RemoveHooks.self, ReportLease.self])
}

/// Where the hooks go, and what they run.
struct HookLocationOptions: ParsableArguments {
    @Option(help: "Install below this directory instead of / (for images and tests).")
    var root: String = "/"
    @OptionGroup var state: StateOptions
}

struct InstallHooks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Put Braid's hook into each installed DHCP/PPP client's hook directory and print what was installed.")

    @OptionGroup var location: HookLocationOptions
    @Option(help: "The braid executable the hooks run (default: this one).")
    var braid: String?

    func run() throws {
        let installer = ClientHookInstaller(
            root: location.root, braidPath: braid ?? currentExecutablePath(), stateDirectory: location.state.stateDirectory)
        do {
            for change in try installer.install() { print(change) }
        } catch {
            printError(error.description)
            throw ExitStatus.kernelFailure
        }
    }
}

struct RemoveHooks: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove exactly the hook files `braid hooks install` put in place.")

    @OptionGroup var location: HookLocationOptions

    func run() throws {
        let installer = ClientHookInstaller(root: location.root, braidPath: "/", stateDirectory: "/")
        do {
            let changes = try installer.remove()
            if changes.isEmpty { print("no Braid client hook is installed; nothing removed") }
            for change in changes { print(change) }
        } catch {
            printError(error.description)
            throw ExitStatus.kernelFailure
        }
    }
}

/// Run by the installed hooks with what the client learned. Always exits 0 and prints nothing a
/// client would see: problems go to syslog (and stderr, which the hooks discard).
struct ReportLease: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Record a lease reported by a DHCP/PPP client hook (run by the hooks, not by hand).")

    @OptionGroup var state: StateOptions
    @Option var client: String = ""
    @Option var interface: String = ""
    @Option var reason: String = ""
    @Option var address: String = ""
    @Option var router: String = ""

    func run() {
        let outcome = LeaseReportRecorder(stateDirectory: state.stateDirectory).record(
            .init(client: client, interface: interface, reason: reason, address: address, routers: router))
        switch outcome {
        case .recorded(let report, let pid):
            log(
                LOG_INFO,
                "\(report.interface): \(report.client.rawValue) \(report.reason), router \(report.router.map { "\($0)" } ?? "none")"
                    + (pid.map { ", daemon \($0) told" } ?? ""))
        case .ignored(let why): log(LOG_DEBUG, "nothing recorded: \(why)")
        case .rejected(let why): log(LOG_WARNING, "ignored a garbled report (\(client) \(interface)): \(why)")
        }
    }

    private func log(_ priority: Int32, _ message: String) {
        FileHandle.standardError.write(Data("braid hooks report: \(message)\n".utf8))
        openlog("braid-hook", LOG_PID, LOG_DAEMON)
        message.withCString { text in withVaList([text]) { vsyslog(priority, "%s", $0) } }
        closelog()
    }
}

/// This process's executable, as the kernel knows it (what `braid hooks install` bakes in).
func currentExecutablePath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}
