// The `liftoff` executable as scripts see it: version, the command tree in --help, and commands that
// are not built yet failing with one clear line and a non-zero exit.
import Foundation
import LiftoffTestSupport
import Testing

func liftoffBinary() -> String { TestEnvironment.builtBinaries(containing: "liftoff") + "/liftoff" }

/// Runs liftoff with `arguments`; returns (exit status, stdout, stderr).
func runLiftoff(_ arguments: [String]) throws -> (Int32, String, String) {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: liftoffBinary())
  p.arguments = arguments
  let out = Pipe()
  let err = Pipe()
  p.standardOutput = out
  p.standardError = err
  try p.run()
  let o = out.fileHandleForReading.readDataToEndOfFile()
  let e = err.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

struct CommandTreeTests {
  @Test func versionPrintsTextAndJSON() throws {
    let (status, out, _) = try runLiftoff(["version"])
    #expect(status == 0)
    #expect(out.hasPrefix("liftoff version "))
    let (jstatus, json, _) = try runLiftoff(["version", "--format", "json"])
    #expect(jstatus == 0)
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
    #expect(object?["criAPIVersion"] as? String == "v1")
    let (bad, _, berr) = try runLiftoff(["version", "--format", "yaml"])
    #expect(bad != 0)
    #expect(berr.contains("yaml"))
  }

  @Test func helpListsTheCommandTree() throws {
    let (status, out, _) = try runLiftoff(["--help"])
    #expect(status == 0)
    for command in ["fetch", "image", "run", "prepare", "run-prepared", "list", "status", "cat-manifest",
                    "enter", "stop", "rm", "gc", "app"] {
      #expect(out.contains("  \(command) "), "--help lacks \(command)")
    }
  }

  @Test func helpRightAfterACommandIsHelp() throws {
    for path in [["run"], ["prepare"], ["app", "add"]] {
      let (status, out, err) = try runLiftoff(path + ["--help"])
      #expect(status == 0, "\(path): \(err)")
      #expect(out.contains("USAGE: liftoff \(path.joined(separator: " "))"), "\(path): \(out)")
    }
  }

  @Test func unknownCommandFails() throws {
    let (status, _, err) = try runLiftoff(["launch"])
    #expect(status != 0)
    #expect(!err.isEmpty)
  }
}

struct ConfigCommandTests {
  /// `liftoff config`: the global flags (and LIFTOFF_DIR) as TOML, or JSON; the helpers found beside it.
  @Test func configPrintsEffectiveSettings() throws {
    let (status, out, err) = try runLiftoff(["--dir", "/srv/lo", "config", "--cni-default-network", "false", "--insecure-options", "http"])
    #expect(status == 0, "\(err)")
    for line in ["dir = \"/srv/lo\"", "cni-default-network = false", "insecure-options = \"http\"",
                 "cni-conf-dir = \"/etc/cni/net.d\"", "registry-config-dir = \"/etc/liftoff/certs.d\"", "[helpers]"] {
      #expect(out.contains(line + "\n"), "\(line): \(out)")
    }
    let stage1 = (liftoffBinary() as NSString).deletingLastPathComponent + "/liftoff-stage1"
    #expect(out.contains("liftoff-stage1 = \"\(stage1)\""), "\(out)")
    let (jstatus, json, _) = try runLiftoff(["config", "--format", "json", "--dir", "/x"])
    #expect(jstatus == 0)
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
    #expect(object?["dir"] as? String == "/x")
    #expect(object?["cni-default-network"] as? Bool == true)
    #expect((object?["helpers"] as? [String: String])?["liftoff-stage1"] == stage1)
  }
}
