// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Braid",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "braid", targets: ["braid"]),
        .executable(name: "braid-nft-session", targets: ["braid-nft-session"]),
        .library(name: "BraidConfig", targets: ["BraidConfig"]),
        .library(name: "BraidPlanner", targets: ["BraidPlanner"]),
        .library(name: "BraidKernel", targets: ["BraidKernel"]),
        .library(name: "BraidApply", targets: ["BraidApply"]),
        .library(name: "BraidHealth", targets: ["BraidHealth"]),
        .library(name: "BraidDaemon", targets: ["BraidDaemon"]),
        .library(name: "BraidLab", targets: ["BraidLab"]),
        .library(name: "BraidImport", targets: ["BraidImport"]),
        .library(name: "BraidHA", targets: ["BraidHA"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(name: "BraidConfig", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "BraidPlanner", dependencies: ["BraidConfig"]),
        .target(name: "BraidKernel", dependencies: ["BraidConfig", "BraidPlanner", "CBraidLinux"]),
        // The apply engine: observe, plan, diff, execute, verify and record; the state directory; status.
        .target(name: "BraidApply", dependencies: ["BraidConfig", "BraidPlanner", "BraidKernel"]),
        // The in-memory kernel for tests, the lab and benchmarks; not part of what ships.
        .target(name: "BraidKernelFake", dependencies: ["BraidConfig", "BraidPlanner", "BraidKernel"]),
        .target(name: "BraidHealth", dependencies: ["BraidConfig"]),
        // Other gateways' configs (mwan3's UCI files) turned into a Braid config, with notes.
        .target(name: "BraidImport", dependencies: ["BraidConfig"]),
        .target(name: "CBraidLinux"),
        // The HA pair: keepalived's and conntrackd's configs, running them, following the role.
        .target(
            name: "BraidHA",
            dependencies: ["BraidConfig", "BraidPlanner", "BraidKernel", .product(name: "Logging", package: "swift-log")]),
        .target(
            name: "BraidDaemon",
            dependencies: [
                "BraidConfig", "BraidPlanner", "BraidKernel", "BraidApply", "BraidHealth", "CBraidLinux", "BraidHA",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // DHCP/PPP client hooks: installing them, and recording what they report (`braid hooks`).
        .target(name: "BraidClientHooks", dependencies: ["BraidConfig", "BraidPlanner", "BraidApply"]),
        // The HTTP API, Prometheus metrics and the dashboard, over the daemon's status and event log.
        .target(
            name: "BraidAPI",
            dependencies: [
                "BraidConfig", "BraidKernel", "BraidApply", "BraidDaemon",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(name: "BraidLab", dependencies: ["BraidConfig", "BraidPlanner", "BraidKernel", "BraidApply", "CBraidLinux"]),
        .executableTarget(
            name: "braid",
            dependencies: [
                "BraidConfig", "BraidPlanner", "BraidKernel", "BraidApply", "BraidLab", "BraidDaemon", "BraidClientHooks", "BraidAPI",
                "BraidImport",
                "BraidHA",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The daemon links the Swift runtime and Foundation statically: only what it uses is
            // linked in, so far fewer library pages are touched (RSS; see README, observe-benchmark).
            linkerSettings: [
                .unsafeFlags(["-static-stdlib", "-lCoreFoundation", "-l_FoundationCollections", "-l_FoundationCShims", "-l_FoundationICU", "-lstdc++"], .when(platforms: [.linux], configuration: .release))
            ]
        ),
        // nft with one libnftables context kept open, run by Braid as a helper program (GPL-2.0,
        // because libnftables is: see its LICENSE; Braid talks to it over a socket).
        .executableTarget(name: "braid-nft-session", exclude: ["LICENSE"]),
        .executableTarget(
            name: "failover-benchmark",
            dependencies: ["BraidConfig", "BraidLab"],
            path: "Benchmarks/FailoverBenchmark"
        ),
        .executableTarget(
            name: "uplink-benchmark",
            dependencies: ["BraidConfig", "BraidLab"],
            path: "Benchmarks/UplinkBenchmark"
        ),
        .executableTarget(
            name: "policy-scale-benchmark",
            dependencies: ["BraidConfig", "BraidPlanner", "BraidKernel", "BraidApply", "BraidLab"],
            path: "Benchmarks/PolicyScaleBenchmark"
        ),
        .executableTarget(
            name: "ipv6-benchmark",
            dependencies: ["BraidConfig", "BraidKernel", "BraidLab"],
            path: "Benchmarks/IPv6Benchmark"
        ),
        .executableTarget(
            name: "observe-benchmark",
            dependencies: ["BraidConfig", "BraidKernel", "BraidLab", "BraidDaemon"],
            path: "Benchmarks/ObserveBenchmark"
        ),
        .executableTarget(
            name: "ha-benchmark",
            dependencies: ["BraidConfig", "BraidLab", "BraidDaemon", "BraidHA"],
            path: "Benchmarks/HABenchmark"
        ),
        .executableTarget(
            name: "fault-injection",
            dependencies: ["BraidConfig", "BraidKernel", "BraidApply", "BraidLab"],
            path: "Benchmarks/FaultInjection"
        ),
        .testTarget(name: "BraidConfigTests", dependencies: ["BraidConfig"]),
        .testTarget(
            name: "BraidPlannerTests",
            dependencies: ["BraidConfig", "BraidPlanner"],
            resources: [.copy("Golden")]
        ),
        .testTarget(
            name: "BraidClientHooksTests", dependencies: ["BraidConfig", "BraidPlanner", "BraidApply", "BraidClientHooks"]),
        .testTarget(name: "BraidImportTests", dependencies: ["BraidImport", "BraidConfig"], exclude: ["Corpus"]),
        .testTarget(name: "BraidHealthTests", dependencies: ["BraidConfig", "BraidHealth"]),
        .testTarget(name: "BraidKernelTests", dependencies: ["BraidConfig", "BraidPlanner", "BraidKernel", "BraidKernelFake", "CBraidLinux"]),
        .testTarget(
            name: "BraidApplyTests",
            dependencies: ["BraidConfig", "BraidPlanner", "BraidKernel", "BraidApply", "BraidKernelFake"]),
        .testTarget(
            name: "BraidDaemonTests",
            dependencies: [
                "BraidConfig", "BraidPlanner", "BraidKernel", "BraidApply", "BraidKernelFake", "BraidHealth", "BraidDaemon",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "BraidLabTests",
            dependencies: [
                "BraidConfig", "BraidPlanner", "BraidKernel", "BraidApply", "BraidLab", "BraidDaemon", "BraidClientHooks",
                "CBraidLinux",
            ]),
        .testTarget(name: "BraidHATests", dependencies: ["BraidConfig", "BraidPlanner", "BraidHA"]),
        .testTarget(
            name: "BraidAPITests",
            dependencies: ["BraidConfig", "BraidKernel", "BraidDaemon", "BraidAPI", "BraidKernelFake"]),
    ],
    swiftLanguageModes: [.v6]
)
