// `liftoff-cri config` through the real binary: the effective configuration (defaults, then the
// file, then flags) as TOML, which `--config` loads back to the same settings and the same output.
import Foundation
@testable import LiftoffCRI
import LiftoffCore
import Testing

/// Runs liftoff-cri with `arguments`: exit status, stdout, stderr.
func runLiftoffCRI(_ arguments: [String]) throws -> (Int32, String, String) {
  try runToolStatus([liftoffBinDir() + "/liftoff-cri"] + arguments)
}

struct ConfigDumpTests {
  @Test func configDumpRoundTrips() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-cfg-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    // A file sets some values; flags override some of them and add others; a path with a quote,
    // a backslash and a tab checks the string escapes.
    let file = root + "/in.toml"
    try """
      dir = "/srv/liftoff"
      log-level = "debug"
      stream-port = 10010
      cni-default-network = false
      pinned-images = ["busybox", "127.0.0.1:5000/x@sha256:\(String(repeating: "b", count: 64))"]

      [runtime-handlers.confined]
      seccomp = "runtime/default"
      user-namespace = "required"

      [runtime-handlers.fly]
      flavor = "default"

      [runtime-handlers.""]
      seccomp = "runtime/default"
      """.write(toFile: file, atomically: true, encoding: .utf8)
    let odd = root + "/we\"ird\\na\tme.sock"
    let (status, out, err) = try runLiftoffCRI([
      "config", "--config", file, "--socket", odd, "--log-level", "warning", "--cdi-spec-dirs", "/a/cdi", "--cdi-spec-dirs", "/b/cdi",
    ])
    #expect(status == 0, "\(err)")
    var expected = CRIConfig()
    expected.dir = "/srv/liftoff"
    expected.logLevel = "warning"
    expected.streamPort = 10010
    expected.cniDefaultNetwork = false
    expected.pinnedImages = ["busybox", "127.0.0.1:5000/x@sha256:" + String(repeating: "b", count: 64)]
    expected.socket = odd
    expected.runtimeHandlers = [
      "confined": .init(seccomp: "runtime/default", userNamespace: .required), "fly": .init(), "": .init(seccomp: "runtime/default"),
    ]
    expected.cdiSpecDirs = ["/a/cdi", "/b/cdi"]
    #expect(out.contains("cdi-spec-dirs = [\"/a/cdi\", \"/b/cdi\"]"), "\(out)")
    #expect(out.contains("log-level = \"warning\""), "\(out)")
    #expect(out.contains("# stream-tls-cert"), "unset settings are shown as comments: \(out)")
    // Every setting is in the output.
    for key in CRIConfig.CodingKeys.allCases where key != .runtimeHandlers {
      #expect(out.contains(key.rawValue + " = "), "\(key.rawValue)")
    }
    // Handlers as tables (a name that is no bare key quoted); the built-ins not redefined as a comment.
    #expect(out.contains("[runtime-handlers.confined]\nflavor = \"default\"\nseccomp = \"runtime/default\"\nuser-namespace = \"required\""), "\(out)")
    #expect(out.contains("[runtime-handlers.\"\"]\nflavor = \"default\"\nseccomp = \"runtime/default\""), "\(out)")
    #expect(out.contains("# built-in runtime handlers: \"default\" (default)\n"), "\(out)")

    // Loaded back (the library and the binary): the same settings, the same document.
    let dumped = root + "/dumped.toml"
    try out.write(toFile: dumped, atomically: true, encoding: .utf8)
    #expect(try CRIConfig.load(path: dumped) == expected)
    let (status2, out2, err2) = try runLiftoffCRI(["config", "--config", dumped])
    #expect(status2 == 0, "\(err2)")
    #expect(out2 == out)

    // Defaults alone (no file at an explicit path is an error; the default path may be absent).
    let (bad, _, badErr) = try runLiftoffCRI(["config", "--config", root + "/missing.toml"])
    #expect(bad != 0)
    #expect(badErr.contains("missing.toml does not exist"), "\(badErr)")
    let (invalid, _, invalidErr) = try runLiftoffCRI(["config", "--config", dumped, "--stream-port", "70000"])
    #expect(invalid != 0)
    #expect(invalidErr.contains("stream-port 70000"), "\(invalidErr)")
  }

  /// A config with the TLS pair set writes them as values; the dump of the dump is the same.
  @Test func tlsSettingsRoundTrip() throws {
    var c = CRIConfig()
    c.streamTLSCert = "/etc/liftoff/tls.crt"
    c.streamTLSKey = "/etc/liftoff/tls.key"
    c.cgroupDriver = "systemd"
    var back = CRIConfig()
    try back.apply(toml: c.tomlDocument(), file: "dump")
    #expect(back == c)
    #expect(CRIConfig().tomlDocument() != c.tomlDocument())
    var defaults = CRIConfig()
    try defaults.apply(toml: CRIConfig().tomlDocument(), file: "dump")
    #expect(defaults == CRIConfig())
  }
}
