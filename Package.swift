// swift-tools-version: 6.1
// The layers point one way:
//   RadioProtocol (pure: codec, request engine) <- RadioSimulator
//   RadioProtocol <- RadioDriver (I/O: termios, sockets, the client) <- radio-cli
// RadioDriver links neither the simulator nor libudev: the `sim` and `loop`
// port schemes live in RadioSimTransport, `udev` in RadioDiscovery, and
// radio-cli adds them to the driver's scheme table. RadioIO (poll, eventfd,
// write-all, sockets) is the one set of I/O primitives under all of them.
import PackageDescription

import class Foundation.ProcessInfo

let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "radio",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "RadioProtocol", targets: ["RadioProtocol"]),
        .library(name: "RadioDriver", targets: ["RadioDriver"]),
        .library(name: "RadioSimulator", targets: ["RadioSimulator"]),
        .library(name: "RadioSimTransport", targets: ["RadioSimTransport"]),
        .library(name: "RadioDiscovery", targets: ["RadioDiscovery"]),
        .library(name: "RadioBench", targets: ["RadioBench"]),
        .library(name: "RadioDaemon", targets: ["RadioDaemon"]),
        .library(name: "RadioFirmware", targets: ["RadioFirmware"]),
        .executable(name: "radio-cli", targets: ["radio-cli"]),
        .executable(name: "radio-sim", targets: ["radio-sim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Pure codec: no Glibc, no Foundation, no clocks, no threads.
        .target(name: "RadioProtocol", swiftSettings: strict),

        // termios2 (BOTHER) lives in <asm/termbits.h>, which clashes with
        // <termios.h>; posix_openpt, pipe2 and ppoll need _GNU_SOURCE, which
        // Swift's Glibc module lacks. Thin C wrappers, nothing more.
        .target(name: "CRadioSystem"),

        // poll, eventfd, write-all, reads and sockets on FileDescriptor, with
        // EINTR handled once: what every transport, the daemon, the
        // simulator and discovery do their I/O with.
        .target(name: "RadioIO", dependencies: ["CRadioSystem", .product(name: "SystemPackage", package: "swift-system"),
                                                .product(name: "Logging", package: "swift-log")],
                swiftSettings: strict),

        // libudev (Debian: libudev-dev): serial ports and radios found and
        // watched through it, Identify probes, and the `udev://?serial=` scheme.
        .systemLibrary(name: "CUdev", pkgConfig: "libudev", providers: [.apt(["libudev-dev"])]),
        .systemLibrary(name: "CEditLine", pkgConfig: "libedit", providers: [.apt(["libedit-dev"])]),
        // libyaml (Debian: libyaml-dev), read directly: the lab file needs
        // a parser, not Yams' Codable layer and the Foundation (with ICU) it
        // would link into radio-cli.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        .target(name: "RadioLab", dependencies: ["CYAML"], swiftSettings: strict),
        .target(name: "RadioDiscovery", dependencies: ["CUdev", "RadioDriver", "RadioProtocol", "RadioIO", "Locking",
                                                       .product(name: "SystemPackage", package: "swift-system")],
                swiftSettings: strict),

        // The radio side of the protocol in portable C99 (no malloc, no stdio):
        // the reference for firmware, run on an emulated Cortex-M3 by
        // Simulator/firmware. Built here for its tests with the same strict
        // flags as the cross build.
        .target(name: "RadioFirmware",
                cSettings: [.unsafeFlags(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])]),

        // A pthread-mutex lock that ThreadSanitizer can see (Locked.swift says why).
        .target(name: "Locking", swiftSettings: strict),

        .target(
            name: "RadioSimulator",
            dependencies: [
                "RadioProtocol",
                "CRadioSystem",
                "RadioIO",
                "Locking",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Simulator/RadioSimulator",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "radio-sim",
            dependencies: [
                "RadioSimulator",
                "RadioIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Simulator/radio-sim",
            swiftSettings: strict
        ),

        .target(
            name: "RadioDriver",
            dependencies: [
                "RadioProtocol",
                "RadioIO",
                "CRadioSystem",
                "Locking",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        // The simulator as a port: `sim` (behind a pty, in this process)
        // and `loop://` (through memory).
        .target(name: "RadioSimTransport", dependencies: ["RadioDriver", "RadioSimulator", "RadioProtocol", "RadioIO", "Locking"],
                swiftSettings: strict),
        // The sharing daemon (`radio-cli serve`): one radio, many clients.
        .target(
            name: "RadioDaemon",
            dependencies: ["RadioDriver", "RadioProtocol", "RadioIO", "CRadioSystem", "Locking",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: strict
        ),
        // The daemon's radio and clients as Prometheus metrics, and the
        // small HTTP server `serve --metrics` answers scrapes with.
        .target(
            name: "RadioMetrics",
            dependencies: ["RadioDaemon", "RadioProtocol", "RadioIO", "CRadioSystem", "Locking",
                           .product(name: "Prometheus", package: "swift-prometheus"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "SystemPackage", package: "swift-system")],
            swiftSettings: strict
        ),
        // Round-trip measurement for `radio-cli bench` (and the benchmarks):
        // runs commands against any port and keeps HdrHistograms.
        .target(name: "RadioConformance", dependencies: ["RadioDriver", "RadioProtocol"], swiftSettings: strict),
        .target(
            name: "RadioBench",
            dependencies: [
                "RadioDriver",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "radio-cli",
            dependencies: [
                "RadioDriver",
                "RadioSimTransport",
                "RadioBench",
                "RadioDaemon",
                "RadioMetrics",
                "RadioDiscovery",
                "Locking",
                "CEditLine",
                "RadioConformance",
                "RadioLab",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict
        ),

        .testTarget(name: "RadioProtocolTests", dependencies: ["RadioProtocol"], swiftSettings: strict),
        .testTarget(name: "RadioFirmwareTests", dependencies: ["RadioFirmware", "RadioProtocol", "RadioSimulator"],
                    swiftSettings: strict),
        .testTarget(name: "RadioDriverTests",
                    dependencies: ["RadioDriver", "RadioSimulator", "RadioSimTransport", "RadioBench", "RadioDiscovery",
                                   "RadioDaemon", "RadioMetrics", "Locking", "RadioIO", "RadioLab"],
                    swiftSettings: strict),
        .testTarget(name: "EndToEndTests", dependencies: ["radio-cli", "radio-sim", "RadioSimulator"],
                    swiftSettings: strict),
    ]
)

// The libFuzzer target builds only when asked (`make fuzz` sets RADIO_FUZZ and
// -sanitize=fuzzer, whose runtime provides main).
if ProcessInfo.processInfo.environment["RADIO_FUZZ"] != nil {
    package.targets.append(.target(name: "CFuzz", path: "Tests/Fuzz/CFuzz"))
    package.targets.append(
        .executableTarget(name: "fuzz-codec", dependencies: ["RadioProtocol", "CFuzz"], path: "Tests/Fuzz/fuzz-codec",
                          swiftSettings: strict + [.unsafeFlags(["-parse-as-library"])]))
    package.targets.append(
        .executableTarget(name: "fuzz-firmware", dependencies: ["RadioFirmware", "RadioProtocol", "RadioSimulator", "CFuzz"],
                          path: "Tests/Fuzz/fuzz-firmware",
                          swiftSettings: strict + [.unsafeFlags(["-parse-as-library"])]))
}

// Benchmarks (package-benchmark) build only when asked, so that `make test`
// and CI do not compile the benchmark framework: `make bench` sets this.
// The plugin finds targets whose folder sits directly in a `Benchmarks` folder.
if ProcessInfo.processInfo.environment["RADIO_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .target(name: "BenchSupport", dependencies: [.product(name: "Benchmark", package: "benchmark")],
                path: "bench/BenchSupport", swiftSettings: strict))
    for (name, extra) in [("Publish", [Target.Dependency]()), ("RoundTrip", ["RadioSimulator", "RadioSimTransport", "RadioProtocol", "Locking"])] {
        package.targets.append(
            .executableTarget(
                name: name,
                dependencies: ["RadioDriver", "BenchSupport", .product(name: "Benchmark", package: "benchmark")] + extra,
                path: "bench/Benchmarks/\(name)",
                swiftSettings: strict,
                plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
            ))
    }
}
