import Foundation
import Testing

// What the integration suites need from the machine (root, the registries of hack/test-env.sh), read
// once, and the traits that say so: a test that cannot run here is reported as skipped with the reason,
// never passed silently.
//
//   @Test(.needsRegistry) func pulls() async throws {
//     let registry = try TestEnvironment.requireRegistry()
//
// In CI (CI set) a missing registry is a failure, not a skip: `.needsRegistry` lets the test run and
// `requireRegistry()` fails it naming what is missing. Root is a skip everywhere (CI runs as root).

/// The test environment: the process environment and what `hack/test-env.sh start` wrote.
public enum TestEnvironment {
  /// The file `hack/test-env.sh start` writes (`export LIFTOFF_TEST_...=...` lines). LIFTOFF_TEST_ENV_FILE
  /// names another (`/dev/null`: none, to see the skips while the registries run).
  public static let file: String = ProcessInfo.processInfo.environment["LIFTOFF_TEST_ENV_FILE"] ?? "/run/liftoff-test/env"

  /// The process environment; when it has no LIFTOFF_TEST_REGISTRY (`file` not sourced), with the
  /// `export K=V` lines of `file` over it.
  public static let variables: [String: String] = {
    var env = ProcessInfo.processInfo.environment
    if env["LIFTOFF_TEST_REGISTRY"] == nil, let text = try? String(contentsOfFile: file, encoding: .utf8) {
      for line in text.split(separator: "\n") where line.hasPrefix("export ") {
        let kv = line.dropFirst(7).split(separator: "=", maxSplits: 1)
        if kv.count == 2 { env[String(kv[0])] = String(kv[1]) }
      }
    }
    return env
  }()

  public static var isRoot: Bool { getuid() == 0 }

  /// CI set: what the tests need must be there (a missing registry fails instead of skipping).
  public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] != nil }

  /// The plain registry (LIFTOFF_TEST_REGISTRY, host:port), nil when hack/test-env.sh is not running.
  public static var registry: String? { variables["LIFTOFF_TEST_REGISTRY"] }

  /// Run the tests that need the registry: it is there, or this is CI (where its absence fails them).
  public static var registryOrCI: Bool { registry != nil || isCI }

  public static let missingRegistry =
    "LIFTOFF_TEST_REGISTRY is not set: run hack/test-env.sh start and source /run/liftoff-test/env"

  /// The plain registry, or a failure naming what is missing (in CI; elsewhere `.needsRegistry` has
  /// skipped the test already).
  public static func requireRegistry(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    try #require(registry, "\(missingRegistry)", sourceLocation: sourceLocation)
  }

  /// The OCI layouts hack/test-env.sh builds (LIFTOFF_TEST_IMAGES).
  public static var images: String { variables["LIFTOFF_TEST_IMAGES"] ?? "/run/liftoff-test/images" }

  /// LIFTOFF_BIN_DIR as given (hack/test.sh sets it), nil when unset or empty.
  public static var binDir: String? {
    guard let dir = ProcessInfo.processInfo.environment["LIFTOFF_BIN_DIR"], !dir.isEmpty else { return nil }
    return dir
  }

  /// The directory of the built `liftoff`, `liftoff-cri`, `liftoff-stage1`...: LIFTOFF_BIN_DIR (pointing
  /// it at another build runs the tests against that build's binaries), else the nearest directory
  /// above the test bundle that holds `executable` (`swift build` puts both in one directory; the
  /// bundle may run from inside its .xctest directory).
  public static func builtBinaries(containing executable: String) -> String {
    if let dir = binDir { return dir }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    var dir = (exe as NSString).deletingLastPathComponent
    while !FileManager.default.fileExists(atPath: dir + "/" + executable), dir != "/" {
      dir = (dir as NSString).deletingLastPathComponent
    }
    return dir
  }
}

extension Trait where Self == ConditionTrait {
  /// Skipped unless run as root.
  public static var needsRoot: Self { .enabled(if: TestEnvironment.isRoot, "needs root") }

  /// Skipped without the test registry, except in CI, where the test runs and
  /// `TestEnvironment.requireRegistry()` fails it.
  public static var needsRegistry: Self {
    .enabled(if: TestEnvironment.registryOrCI, "needs the test registry: hack/test-env.sh start")
  }
}
