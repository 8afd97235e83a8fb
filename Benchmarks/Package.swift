// swift-tools-version:6.1
import PackageDescription

// Benchmarks for Roster, kept out of the root package so that building or testing Roster never
// resolves or builds the benchmark framework. Run from the repository root:
//
//     swift package --package-path Benchmarks benchmark
//
// See docs/BENCHMARKS.md for what is measured, the other commands and the recorded figures.
let package = Package(
    name: "roster-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package; named so the product reference does not depend on the checkout's folder name.
        .package(name: "roster", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // Deterministic datasets, query sets and process-memory probes shared by the benchmarks and the probe.
        .target(
            name: "RosterBenchSupport",
            dependencies: ["CHeapProbe", .product(name: "RosterCore", package: "roster")]
        ),
        .target(name: "CHeapProbe"),
        // ordo-one/benchmark suite (the plugin finds it under Benchmarks/MembershipIndex).
        .executableTarget(
            name: "MembershipIndexBenchmarks",
            dependencies: [
                "RosterBenchSupport",
                .product(name: "RosterCore", package: "roster"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/MembershipIndex",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // A plain executable (no malloc interposer) for memory figures, the amortized fold cost, and
        // for running under perf or callgrind.
        .executableTarget(
            name: "index-probe",
            dependencies: [
                "RosterBenchSupport",
                .product(name: "RosterCore", package: "roster"),
            ]
        ),
    ]
)
