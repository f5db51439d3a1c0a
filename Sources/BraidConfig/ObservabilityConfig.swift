/// Where the daemon's HTTP API (metrics, status, events, dashboard, drain) listens, and the token
/// that guards it. The top-level `api` section; see docs/config.md.
public struct ApiConfig: Sendable, Equatable {
    /// The address and port to listen on; nil for `listen: none` (no HTTP API).
    public var listen: ListenAddress?
    /// A file holding the bearer token: needed for every call that changes something, and for
    /// every call when `listen` is not a loopback address.
    public var tokenFile: String?

    /// Loopback only: nothing outside the gateway reaches the API unless the operator says so.
    public static let defaultListen = ListenAddress(host: .v4(IPv4Address(0x7f00_0001)), port: 9180)

    public init(listen: ListenAddress? = Self.defaultListen, tokenFile: String? = nil) {
        self.listen = listen
        self.tokenFile = tokenFile
    }
}

/// An IP address and TCP port, written `127.0.0.1:9180` or `[::1]:9180`.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: IPAddress
    public var port: Int

    public init(host: IPAddress, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `A.B.C.D:PORT` or `[IPv6]:PORT`; nil for anything else.
    public init?(_ text: String) {
        let hostText: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            hostText = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
            guard hostText.contains(":") else { return nil }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostText = text[..<colon]
            portText = text[text.index(after: colon)...]
            guard !hostText.contains(":") else { return nil }
        }
        guard let host = IPAddress(hostText), portText.allSatisfy({ $0.isASCII && $0.isNumber }), !portText.isEmpty,
            portText.count <= 5, let port = Int(portText), (1...65535).contains(port)
        else { return nil }
        self.init(host: host, port: port)
    }

    /// 127.0.0.0/8 or ::1: reachable from this host only.
    public var isLoopback: Bool {
        switch host {
        case .v4(let address): address.value >> 24 == 127
        case .v6(let address): address == IPv6Address(groups: [0, 0, 0, 0, 0, 0, 0, 1])
        }
    }

    /// The host as a socket address string (IPv6 without brackets).
    public var hostText: String { "\(host)" }

    public var description: String {
        switch host {
        case .v4: "\(host):\(port)"
        case .v6: "[\(host)]:\(port)"
        }
    }
}

/// Programs run on every event (a WAN going down or up, a drain, a reload …). The top-level
/// `hooks` section; see docs/config.md. Called "event hooks" to tell them from DHCP/PPP client hooks.
public struct EventHookConfig: Sendable, Equatable {
    /// Every executable file directly in it runs on each event, in lexical order of its name.
    public var directory: String
    /// A hook still running after this is killed (SIGKILL), logged and counted as a timeout.
    public var timeout: Duration
    /// mwan3's user script (`/etc/mwan3.user`), run on WAN state changes with mwan3's `ACTION`,
    /// `INTERFACE` and `DEVICE`; nil: none.
    public var mwan3User: String?

    public static let defaultDirectory = "/etc/braid/hooks.d"
    /// Long enough for a DDNS update or a VPN restart, short enough that a hung script does not
    /// hold back the next event of its WAN for long.
    public static let defaultTimeout = Duration.seconds(10)

    public init(directory: String = Self.defaultDirectory, timeout: Duration = Self.defaultTimeout) {
        self.directory = directory
        self.timeout = timeout
    }
}

extension ConfigLoader {
    static func readApi(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> ApiConfig? {
        guard let keys = collector.mapping(cursor, allowed: ["listen", "token_file"]) else { return nil }
        let before = collector.issues.count
        var api = ApiConfig()
        if let listenCursor = keys["listen"], let text = collector.string(listenCursor, of: "an address:port or none") {
            if text == "none" {
                api.listen = nil
            } else if let address = ListenAddress(text) {
                api.listen = address
            } else {
                collector.report(listenCursor, "\"\(text)\" is not ADDRESS:PORT (as 127.0.0.1:9180 or [::1]:9180) or none")
            }
        }
        if let fileCursor = keys["token_file"], let path = collector.string(fileCursor, of: "a file path") {
            if path.hasPrefix("/"), !path.contains("\0"), path.utf8.count <= 4096 {
                api.tokenFile = path
            } else {
                collector.report(fileCursor, "\"\(path)\" is not an absolute path")
            }
        }
        if collector.issues.count == before, let listen = api.listen, !listen.isLoopback, api.tokenFile == nil {
            collector.report(
                keys["listen"] ?? cursor,
                "\(listen) is not a loopback address: set api.token_file, so that every call needs the token")
        }
        return collector.issues.count == before ? api : nil
    }

    static func readEventHooks(_ cursor: YAMLCursor, _ collector: inout IssueCollector) -> EventHookConfig? {
        guard let keys = collector.mapping(cursor, allowed: ["directory", "timeout", "mwan3_user"]) else { return nil }
        let before = collector.issues.count
        var hooks = EventHookConfig()
        if let directoryCursor = keys["directory"], let path = collector.string(directoryCursor, of: "a directory path") {
            if path.hasPrefix("/"), !path.contains("\0"), path.utf8.count <= 4096 {
                hooks.directory = path
            } else {
                collector.report(directoryCursor, "\"\(path)\" is not an absolute path")
            }
        }
        if let timeoutCursor = keys["timeout"],
            let value = collector.duration(timeoutCursor, in: .milliseconds(100)...(.seconds(3600)))
        {
            hooks.timeout = value
        }
        if let scriptCursor = keys["mwan3_user"], let path = collector.string(scriptCursor, of: "a file path") {
            if path.hasPrefix("/"), !path.contains("\0"), path.utf8.count <= 4096 {
                hooks.mwan3User = path
            } else {
                collector.report(scriptCursor, "\"\(path)\" is not an absolute path")
            }
        }
        return collector.issues.count == before ? hooks : nil
    }
}
