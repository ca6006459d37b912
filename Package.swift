// swift-tools-version: 6.0
// sega: transferable black-box attacks on no-reference image-quality models.
// The engine (CSupport + SegaEngine) has no package dependency and no global ISA flag:
// SIMD kernels carry per-function target attributes and are picked at run time.
import PackageDescription

let package = Package(
    name: "sega",
    products: [
        .library(name: "SegaEngine", targets: ["SegaEngine"]),
        .library(name: "SegaModels", targets: ["SegaModels"]),
        .library(name: "SegaIO", targets: ["SegaIO"]),
        .library(name: "SegaAttack", targets: ["SegaAttack"]),
        .executable(name: "sega", targets: ["sega"]),
        // The C library: the C API of Sources/CSegaAPI/include/sega.h over the whole engine, as
        // libsega-c.a. SwiftPM ignores a library product named "sega" next to the executable "sega",
        // so the product is "sega-c"; scripts/install.sh installs it as lib/libsega.a, links
        // lib/libsega.so from it with the Swift runtime inside, and writes lib/pkgconfig/sega.pc.
        .library(name: "sega-c", type: .static, targets: ["SegaCAPI"]),
    ],
    dependencies: [
        // Command-line parsing for the CLI layer (SegaCLI, the `sega` executable) only.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C kernels: arena, thread pool, packed SGEMM, im2col/col2im, depthwise conv,
        // pooling, elementwise, and the naive references the tests compare against.
        .target(
            name: "CSupport",
            path: "CSupport",
            sources: ["src"],
            publicHeadersPath: "include",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("pthread"), .linkedLibrary("m")]
        ),
        .target(name: "SegaEngine", dependencies: ["CSupport"], path: "Sources/SegaEngine"),
        // Architectures over the engine's ops, safetensors loading, preprocessing.
        .target(name: "SegaModels", dependencies: ["SegaEngine"], path: "Sources/SegaModels"),
        // SEGA and the baselines (I-FGSM, MI-FGSM, VT, random), JND, metrics: over planned models.
        .target(name: "SegaAttack", dependencies: ["SegaModels", "SegaEngine"], path: "Sources/SegaAttack"),
        // libpng / libjpeg-turbo behind a setjmp shim (errors come back as codes and messages,
        // never abort/exit); Debian's libpng-dev and libjpeg62-turbo-dev (scripts/deps.sh).
        .target(
            name: "CImageIO",
            path: "Sources/CImageIO",
            publicHeadersPath: "include",
            linkerSettings: [.linkedLibrary("png"), .linkedLibrary("jpeg")]
        ),
        // PNG/JPEG in as planar RGB Float32, atomic 8-bit PNG out.
        .target(name: "SegaIO", dependencies: ["CImageIO"], path: "Sources/SegaIO"),
        // Below both the CLI and the C API: weights lookup, models by name, attack sessions,
        // scoring, output files, errors with kinds (SegaError). Prints nothing, parses no flags.
        .target(name: "SegaRuntime", dependencies: ["SegaIO", "SegaAttack", "SegaModels", "SegaEngine"], path: "Sources/SegaRuntime"),
        // The `sega` commands (flags, output, exit statuses), one per file, testable in-process.
        .target(
            name: "SegaCLI",
            dependencies: ["SegaRuntime", "SegaIO", "SegaAttack", "SegaModels", "SegaEngine",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/SegaCLI"
        ),
        // The C API (Sources/CSegaAPI/include/sega.h): @_cdecl functions over SegaRuntime; codes + messages, no Swift types.
        .target(name: "CSegaAPI", path: "Sources/CSegaAPI", publicHeadersPath: "include"),
        .target(name: "SegaCAPI", dependencies: ["CSegaAPI", "SegaRuntime", "SegaAttack", "SegaIO", "SegaModels", "SegaEngine"], path: "Sources/SegaCAPI"),
        // The command-line tool: SegaCLI's root command.
        .executableTarget(name: "sega", dependencies: ["SegaCLI"], path: "Sources/sega"),
        // The benchmarks (sega-bench, sega-modelbench) are a package of their own: Benchmarks/.
        // Allocation counter interposed into the test binary only (malloc/calloc/realloc/
        // posix_memalign/aligned_alloc/memalign/free forwarded to glibc's __libc_* entry points).
        .target(name: "MallocCounter", path: "Tests/MallocCounter"),
        .testTarget(name: "SegaModelsTests", dependencies: ["SegaModels"], path: "Tests/SegaModelsTests"),
        .testTarget(name: "SegaAttackTests", dependencies: ["SegaAttack", "SegaModels", "SegaEngine", "MallocCounter"], path: "Tests/SegaAttackTests"),
        .testTarget(name: "SegaIOTests", dependencies: ["SegaIO"], path: "Tests/SegaIOTests"),
        .testTarget(name: "SegaCLITests", dependencies: ["SegaCLI", "SegaRuntime", "SegaAttack", "SegaIO", "SegaModels"], path: "Tests/SegaCLITests"),
        .testTarget(name: "SegaCAPITests", dependencies: ["SegaCAPI", "CSegaAPI", "SegaRuntime", "SegaAttack", "SegaModels", "SegaEngine"], path: "Tests/SegaCAPITests"),
        .testTarget(name: "SegaEngineTests", dependencies: ["SegaEngine", "CSupport", "MallocCounter"], path: "Tests/SegaEngineTests"),
    ]
)
