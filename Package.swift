// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "Skein",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "skein", targets: ["skein"]),
    .executable(name: "skein-codegen", targets: ["skein-codegen"]),
    .library(name: "KafkaProtocol", targets: ["KafkaProtocol"]),
    .library(name: "SkeinClient", targets: ["SkeinClient"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
  ],
  targets: [
    .target(name: "CCRC32C"),
    .target(
      name: "CSkeinCompression",
      linkerSettings: [
        .linkedLibrary("z"),
        .linkedLibrary("dl", .when(platforms: [.linux])),
      ]
    ),
    .target(
      name: "KafkaProtocol",
      dependencies: [
        "CCRC32C",
        "CSkeinCompression",
        .product(name: "NIOCore", package: "swift-nio"),
      ]
    ),
    .target(name: "SkeinCodegen"),
    .executableTarget(name: "skein-codegen", dependencies: ["SkeinCodegen"]),
    .target(
      name: "SkeinStorage",
      dependencies: [
        "KafkaProtocol",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .target(
      name: "SkeinCluster",
      dependencies: [
        "KafkaProtocol",
        .product(name: "NIOCore", package: "swift-nio"),
      ]
    ),
    .target(
      name: "SkeinCoordinator",
      dependencies: [
        "KafkaProtocol",
        .product(name: "NIOCore", package: "swift-nio"),
      ]
    ),
    .target(
      name: "SkeinBroker",
      dependencies: [
        "KafkaProtocol",
        "SkeinCoordinator",
        "SkeinCluster",
        "SkeinStorage",
        // The broker talks to other nodes (controller, leaders) with the client's connection,
        // as Kafka's core uses its clients' NetworkClient.
        "SkeinClient",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Atomics", package: "swift-atomics"),
        .product(name: "CoreMetrics", package: "swift-metrics"),
      ]
    ),
    // The node's HTTP listener: Prometheus metrics, the admin JSON API and the web view.
    .target(
      name: "SkeinAdmin",
      dependencies: [
        "SkeinBroker",
        "SkeinClient",
        "SkeinCluster",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .target(
      name: "SkeinClient",
      dependencies: [
        "KafkaProtocol",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .executableTarget(
      name: "skein",
      dependencies: [
        "SkeinAdmin",
        "SkeinBroker",
        "SkeinCluster",
        "SkeinClient",
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ]
    ),
    .testTarget(name: "KafkaProtocolTests", dependencies: ["KafkaProtocol"]),
    .testTarget(name: "SkeinCodegenTests", dependencies: ["SkeinCodegen", "KafkaProtocol"]),
    .testTarget(name: "SkeinClusterTests", dependencies: ["SkeinCluster"]),
    .testTarget(name: "SkeinStorageTests", dependencies: ["SkeinStorage"]),
    .testTarget(
      name: "SkeinBrokerTests",
      dependencies: [
        "SkeinBroker", "SkeinClient", .product(name: "CoreMetrics", package: "swift-metrics"),
      ]),
    .testTarget(name: "SkeinClientTests", dependencies: ["SkeinClient"]),
    .testTarget(name: "SkeinCoordinatorTests", dependencies: ["SkeinCoordinator"]),
    .testTarget(
      name: "SkeinAdminTests",
      dependencies: [
        "SkeinAdmin", "SkeinBroker", .product(name: "Prometheus", package: "swift-prometheus"),
      ]),
  ],
  swiftLanguageModes: [.v6]
)
