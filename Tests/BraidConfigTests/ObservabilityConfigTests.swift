import BraidConfig
import Testing

/// The top-level `api` and `hooks` sections.
@Suite struct ObservabilityConfigTests {
    static func config(top: String = "") -> String { oneHealthCheckedWan(top: top) }

    @Test func defaultsAreLoopbackAndTheHooksDirectory() throws {
        let config = try ConfigLoader.parse(Self.config())
        #expect(config.api.listen?.description == "127.0.0.1:9180")
        #expect(config.api.tokenFile == nil)
        #expect(config.hooks == EventHookConfig(directory: "/etc/braid/hooks.d", timeout: .seconds(10)))
    }

    @Test func theSectionsAreRead() throws {
        let config = try ConfigLoader.parse(
            Self.config(
                top: """
                    api:
                      listen: "[::1]:9999"
                      token_file: /etc/braid/api.token
                    hooks:
                      directory: /usr/local/lib/braid/hooks
                      timeout: 2.5s
                    """))
        #expect(config.api.listen?.description == "[::1]:9999" && config.api.listen?.isLoopback == true)
        #expect(config.api.tokenFile == "/etc/braid/api.token")
        #expect(config.hooks == EventHookConfig(directory: "/usr/local/lib/braid/hooks", timeout: .milliseconds(2500)))
    }

    @Test func listenNoneTurnsTheApiOff() throws {
        #expect(try ConfigLoader.parse(Self.config(top: "api:\n  listen: none")).api.listen == nil)
    }

    @Test func aNonLoopbackAddressWithATokenIsAccepted() throws {
        let config = try ConfigLoader.parse(Self.config(top: "api:\n  listen: 192.0.2.9:9180\n  token_file: /etc/braid/t"))
        #expect(config.api.listen?.isLoopback == false)
    }

    /// `api`/`hooks` is line 10, its keys from line 11.
    static let invalid: [InvalidConfigCase] = [
        InvalidConfigCase(
            problem: "a non-loopback listen without a token", yaml: config(top: "api:\n  listen: 0.0.0.0:9180"),
            expectedPath: "api.listen", expectedLine: 11),
        InvalidConfigCase(
            problem: "listen without a port", yaml: config(top: "api:\n  listen: 127.0.0.1"),
            expectedPath: "api.listen", expectedLine: 11),
        InvalidConfigCase(
            problem: "listen port out of range", yaml: config(top: "api:\n  listen: 127.0.0.1:70000"),
            expectedPath: "api.listen", expectedLine: 11),
        InvalidConfigCase(
            problem: "a host name for listen", yaml: config(top: "api:\n  listen: localhost:9180"),
            expectedPath: "api.listen", expectedLine: 11),
        InvalidConfigCase(
            problem: "a relative token file", yaml: config(top: "api:\n  token_file: api.token"),
            expectedPath: "api.token_file", expectedLine: 11),
        InvalidConfigCase(
            problem: "unknown api key", yaml: config(top: "api:\n  cors: '*'"), expectedPath: "api.cors", expectedLine: 11),
        InvalidConfigCase(
            problem: "a relative hooks directory", yaml: config(top: "hooks:\n  directory: hooks.d"),
            expectedPath: "hooks.directory", expectedLine: 11),
        InvalidConfigCase(
            problem: "a hook timeout below 100ms", yaml: config(top: "hooks:\n  timeout: 10ms"),
            expectedPath: "hooks.timeout", expectedLine: 11),
        InvalidConfigCase(
            problem: "unknown hooks key", yaml: config(top: "hooks:\n  install: true"),
            expectedPath: "hooks.install", expectedLine: 11),
    ]

    @Test(arguments: invalid)
    func badValuesNameTheKeyAndLine(_ invalidCase: InvalidConfigCase) throws {
        try invalidCase.expectRefusedAtKeyAndLine()
    }
}
