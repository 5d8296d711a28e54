// swift-tools-version:6.1
// Liftoff — a daemonless Kubernetes container runtime (stage0 `liftoff`, stage1 `liftoff-stage1`,
// CRI service `liftoff-cri`). Targets and the direction of their dependencies follow shared/STYLE.md:
// executables → LiftoffCRI → LiftoffPod → LiftoffImage / LiftoffNet → LiftoffOS → LiftoffCore.
// LiftoffStreaming (the exec/attach/port-forward server: SPDY, WebSocket, HTTP heads; no gRPC) sits
// beside LiftoffPod under LiftoffCRI, which supplies its container backend.
// LiftoffCore and LiftoffOS import no Foundation: liftoff-stage1 links only them, as a static executable,
// so that its memory per pod stays under 1 MB.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
]

/// liftoff and liftoff-stage1, which start on every pod change: fully static (glibc too), with
/// Foundation's static libraries and the C++ runtime Swift's runtime needs in one link group.
let staticExecutable: [LinkerSetting] = [
  .unsafeFlags([
    "-static-executable", "-Xlinker", "--start-group", "-lFoundation", "-lFoundationInternationalization",
    "-lFoundationEssentials", "-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCShims",
    "-l_FoundationCollections", "-lstdc++", "-lm", "-Xlinker", "--end-group",
  ])
]

let staticFoundation: [LinkerSetting] = [
  .unsafeFlags([
    "-static-stdlib", "-Xlinker", "--start-group", "-lFoundation", "-lFoundationInternationalization",
    "-lFoundationEssentials", "-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCShims",
    "-l_FoundationCollections", "-Xlinker", "--end-group",
  ])
]

let package = Package(
  name: "liftoff",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "liftoff", targets: ["liftoff"]),
    .executable(name: "liftoff-image", targets: ["liftoff-image"]),
    .executable(name: "liftoff-cri", targets: ["liftoff-cri"]),
    .executable(name: "liftoff-stage1", targets: ["liftoff-stage1"]),
    .executable(name: "liftoff-enter", targets: ["liftoff-enter"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.42.0"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
  ],
  targets: [
    // MARK: executables (thin entry points)
    .executableTarget(
      name: "liftoff",
      dependencies: [
        "LiftoffCLI", "LiftoffPod", "LiftoffCatalog", "LiftoffNet", "LiftoffOS", "LiftoffCore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings,
      // Every pod change liftoff-cri makes runs this binary, so its start-up is on every CRI call: it
      // links no registry, TLS or archive code (liftoff-image, below, runs `fetch` and `image …`), and
      // it is a static executable — no dynamic loader, no symbol lookups in libstdc++ and libc, no
      // relocated data pages (PIE: 76,000 relocations): `liftoff version` 4.4 → 2.1 ms, each of
      // `app add|start|stop|rm` ~2.5 ms less. Nothing in it uses NSS or dlopen (the linker's warnings
      // name Foundation functions we do not call). The price is no ASLR for its own code, as stage1.
      linkerSettings: staticExecutable
    ),
    .executableTarget(
      name: "liftoff-image",
      dependencies: [
        "LiftoffCLI", "LiftoffImage", "LiftoffCatalog", "LiftoffOS", "LiftoffCore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings,
      linkerSettings: staticFoundation
    ),
    .executableTarget(
      name: "liftoff-cri",
      dependencies: [
        "LiftoffCRI", "LiftoffOS", "LiftoffCore",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings,
      // The Swift runtime's concurrency hook exported, so that NIO can run our tasks on its event loops
      // (CRIServer.tasksOnEventLoops). With -static-stdlib the hook cannot be exported (tried: NIO
      // finds no symbol), and the static runtime saved no measurable CPU per RPC.
      linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic-symbol=swift_task_enqueueGlobal_hook"])]
    ),
    .executableTarget(
      name: "liftoff-stage1",
      dependencies: ["LiftoffOS", "LiftoffCore"],
      swiftSettings: swiftSettings,
      // One stage1 per pod: a static executable at a fixed address (non-PIE), so that relocations do
      // not turn data pages into private copies in every pod, and no dynamic loader or libstdc++
      // symbol binding runs per pod (PSS per pod 1051 → 712 KiB with 10 pods as non-PIE with a
      // static Swift runtime, → 520 KiB fully static). The price is no ASLR for stage1's own code
      // (the stack and heap are still randomised), as for Go shims built the default way; it parses
      // no image or network input, only app output and root-only sockets.
      linkerSettings: staticExecutable
    ),

    // libFuzzer targets for the parsers of untrusted input (JSON, image references, manifests and
    // configs, CNI results, attach frames, CRI log lines, SPDY frames and header blocks, WebSocket frames,
    // HTTP request heads, HTTP/2 as the gRPC server reads it); one binary, the target chosen by
    // LIFTOFF_FUZZ_TARGET. Built with the sanitizer only by hack/fuzz.sh (-DLIFTOFF_FUZZ); a plain
    // build gets a main that says so. Not a product: nothing ships it.
    .executableTarget(
      name: "liftoff-fuzz",
      dependencies: [
        "LiftoffRPC", "LiftoffStreaming", "LiftoffCatalog", "LiftoffNet", "LiftoffCore",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOHPACK", package: "swift-nio-http2"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOWebSocket", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings),

    // MARK: libraries    // The one process that crosses from the host into a container (exec, `liftoff enter`): C only,
    // static, small, so that it can run from a sealed memfd copy of itself on every exec.
    .executableTarget(
      name: "liftoff-enter",
      dependencies: ["CLinux"],
      linkerSettings: [.unsafeFlags(["-static-executable", "-Xlinker", "--gc-sections"])]
    ),

    .target(
      name: "LiftoffCRI",
      dependencies: [
        "LiftoffRPC", "LiftoffStreaming", "LiftoffPod", "LiftoffImage", "LiftoffCatalog", "LiftoffNet", "LiftoffCDI",
        "LiftoffOS", "LiftoffCore",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "TOMLKit", package: "TOMLKit"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        "CLinux",
      ],
      exclude: ["Generated/api.proto.sha256"],
      swiftSettings: swiftSettings
    ),
    // The gRPC server of the CRI socket: HTTP/2 frames, flow control and gRPC's message framing in one
    // channel handler per connection (NIOHPACK decodes header blocks), unary and server-streaming
    // methods; what the generated service protocols of grpc-swift define is served through it by
    // LiftoffCRI. Nothing of the CRI: liftoff-fuzz links it.
    .target(
      name: "LiftoffRPC",
      dependencies: [
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "NIOHPACK", package: "swift-nio-http2"),
      ],
      swiftSettings: swiftSettings
    ),
    // The streaming server for Exec/Attach/PortForward URLs: HTTP/1 request heads (NIOHTTP1), SPDY/3.1
    // (ours: frames, zlib header blocks), WebSocket (NIOWebSocket framing), the Kubernetes remote-command
    // and port-forward protocols, one-use tokens, and the StreamingBackend protocol (HostProcessBackend:
    // the same on the host, for tests and as the process runner the container backend uses). No gRPC,
    // nothing of pods: liftoff-fuzz links it.
    .target(
      name: "LiftoffStreaming",
      dependencies: [
        "LiftoffOS", "LiftoffCore", "CLinux", "CZlib",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOWebSocket", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .target(
      name: "LiftoffCLI",
      dependencies: ["LiftoffCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      swiftSettings: swiftSettings
    ),
    .target(
      name: "LiftoffPod",
      dependencies: ["LiftoffNet", "LiftoffOS", "LiftoffCore"],
      swiftSettings: swiftSettings
    ),
    .target(
      name: "LiftoffImage",
      dependencies: [
        "LiftoffCatalog", "LiftoffOS", "LiftoffCore", "CArchive",
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "TOMLKit", package: "TOMLKit"),
      ],
      swiftSettings: swiftSettings
    ),
    // Container Device Interface specs: parsing (JSON, and YAML through Yams), validation, resolution of
    // qualified device names to container edits. Applying them is LiftoffCRI's.
    .target(
      name: "LiftoffCDI", dependencies: ["LiftoffCore", .product(name: "Yams", package: "Yams")], swiftSettings: swiftSettings),
    .target(name: "LiftoffCatalog", dependencies: ["LiftoffOS", "LiftoffCore"], swiftSettings: swiftSettings),
    .target(
      name: "LiftoffNet",
      dependencies: ["LiftoffOS", "LiftoffCore", "CLinux"],
      swiftSettings: swiftSettings
    ),
    .target(
      name: "LiftoffOS",
      dependencies: ["LiftoffCore", "CLinux", "CSeccomp"],
      swiftSettings: swiftSettings
    ),
    .target(name: "LiftoffCore", swiftSettings: swiftSettings),

    // MARK: C shims and system libraries
    .target(name: "CLinux"),
    .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),

    // MARK: tests
    .testTarget(name: "LiftoffCLITests", dependencies: ["LiftoffTestSupport"], swiftSettings: swiftSettings),
    .testTarget(name: "LiftoffCDITests", dependencies: ["LiftoffCDI", "LiftoffCore"], swiftSettings: swiftSettings),
    .testTarget(name: "LiftoffCoreTests", dependencies: ["LiftoffCore"], exclude: ["Fixtures"], swiftSettings: swiftSettings),
    .testTarget(
      name: "LiftoffNetTests", dependencies: ["LiftoffNet", "LiftoffOS", "LiftoffCore", "LiftoffTestSupport"], swiftSettings: swiftSettings),
    .testTarget(name: "LiftoffOSTests", dependencies: ["LiftoffOS", "LiftoffCore"], swiftSettings: swiftSettings),
    // What the integration suites share: the test environment (root, the registries of hack/test-env.sh)
    // and the traits that skip visibly without it, running commands, reading cgroup files on v1 and v2.
    .target(name: "LiftoffTestSupport", dependencies: ["LiftoffOS"], path: "Tests/LiftoffTestSupport", swiftSettings: swiftSettings),
    .testTarget(
      name: "LiftoffPodTests", dependencies: ["LiftoffPod", "LiftoffNet", "LiftoffOS", "LiftoffCore", "LiftoffTestSupport"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "LiftoffImageTests",
      dependencies: [
        "LiftoffImage", "LiftoffCatalog", "LiftoffCore", "LiftoffTestSupport", "CArchive", .product(name: "Crypto", package: "swift-crypto"),
      ],
      swiftSettings: swiftSettings
    ),
    // The streaming protocols' code on bytes (SPDY, header blocks, WebSocket, Status JSON, tokens, the
    // request-head handlers in an EmbeddedChannel). The
    // server tests with sockets and host processes share their test client with the container tests in
    // LiftoffCRITests and live there.
    .testTarget(
      name: "LiftoffStreamingTests",
      dependencies: [
        "LiftoffStreaming", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOWebSocket", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "LiftoffRPCTests",
      dependencies: ["LiftoffRPC", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHPACK", package: "swift-nio-http2")],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "LiftoffCRITests",
      dependencies: [
        "LiftoffCRI", "LiftoffStreaming", "LiftoffCore", "LiftoffOS", "LiftoffTestSupport",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOWebSocket", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
  ]
)
