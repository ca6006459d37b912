// swift-tools-version: 6.0
// sega's benchmarks, a package of their own so that a library build (`swift build` at the
// repository root) never builds them. It depends on the root package by path.
//   swift build -c release --package-path Benchmarks
//   Benchmarks/.build/release/sega-bench [--quick] [--json]
//   Benchmarks/.build/release/sega-modelbench --weights FILE --height H --width W ...
// scripts/bench_models.py builds and drives sega-modelbench side by side with PyTorch.
import PackageDescription

let package = Package(
    name: "sega-benchmarks",
    dependencies: [
        // The root package, named so that `package: "sega"` holds whatever its folder is called.
        .package(name: "sega", path: ".."),
    ],
    targets: [
        // The machine's single-core FMA peak (register-only FMA loops per ISA), for "% of peak".
        .target(name: "CBenchPeak", path: "Sources/CBenchPeak"),
        // What both benchmarks share: argument parsing, the clock, number formatting, fixed-
        // precision numbers for the main package's JSONWriter (SegaModels), peak RSS.
        .target(name: "BenchSupport", dependencies: [.product(name: "SegaModels", package: "sega")],
                path: "Sources/BenchSupport"),
        // Our packed SGEMM next to OpenBLAS (dlopen'ed at run time) and the measured FMA peak.
        .executableTarget(
            name: "sega-bench",
            dependencies: ["BenchSupport", "CBenchPeak", .product(name: "SegaEngine", package: "sega")],
            path: "Sources/sega-bench"
        ),
        // Forward and forward+input-gradient time and peak RSS of one model (scripts/bench_models.py).
        .executableTarget(
            name: "sega-modelbench",
            dependencies: ["BenchSupport", .product(name: "SegaModels", package: "sega"),
                           .product(name: "SegaEngine", package: "sega")],
            path: "Sources/sega-modelbench"
        ),
    ]
)
