// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Braid",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "braid", targets: ["braid"]),
        .library(name: "BraidConfig", targets: ["BraidConfig"]),
        .library(name: "BraidPlanner", targets: ["BraidPlanner"]),
        .library(name: "BraidKernel", targets: ["BraidKernel"]),
        .library(name: "BraidLab", targets: ["BraidLab"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .target(name: "BraidConfig", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "BraidPlanner", dependencies: ["BraidConfig"]),
        .target(name: "BraidKernel", dependencies: ["BraidConfig", "BraidPlanner"]),
        .target(name: "CNamespace"),
        .target(name: "BraidLab", dependencies: ["BraidConfig", "BraidPlanner", "BraidKernel", "CNamespace"]),
        .executableTarget(
            name: "braid",
            dependencies: [
                "BraidConfig", "BraidPlanner", "BraidKernel", "BraidLab",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "BraidConfigTests", dependencies: ["BraidConfig"]),
        .testTarget(
            name: "BraidPlannerTests",
            dependencies: ["BraidConfig", "BraidPlanner"],
            resources: [.copy("Golden")]
        ),
        .testTarget(name: "BraidKernelTests", dependencies: ["BraidConfig", "BraidPlanner", "BraidKernel"]),
        .testTarget(name: "BraidLabTests", dependencies: ["BraidConfig", "BraidPlanner", "BraidKernel", "BraidLab"]),
    ],
    swiftLanguageModes: [.v6]
)
