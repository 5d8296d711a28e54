// `liftoff config`: the settings this invocation would use, as rkt's `rkt config` printed its
// configuration. liftoff has no configuration file: its settings are the global flags (and
// LIFTOFF_DIR for --dir), so this prints them as TOML (`key = value`, the flag names) with the
// helper executables it would run, or as one JSON document with `--format json`.
import ArgumentParser
import Foundation
import LiftoffCLI
import LiftoffCore
import LiftoffPod

struct ConfigCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "config", abstract: "Print the effective settings: global flags (and LIFTOFF_DIR) and the helpers found.")
  @OptionGroup var global: GlobalOptions
  @Option var format: OutputFormat = .text

  struct Settings: Encodable {
    var dir: String
    var registryConfigDir: String
    var insecureOptions: String
    var cniConfDir: String
    var cniBinDir: String
    var cniDefaultNetwork: Bool
    var helpers: [String: String]

    enum CodingKeys: String, CodingKey {
      case dir
      case registryConfigDir = "registry-config-dir"
      case insecureOptions = "insecure-options"
      case cniConfDir = "cni-conf-dir"
      case cniBinDir = "cni-bin-dir"
      case cniDefaultNetwork = "cni-default-network"
      case helpers
    }
  }

  func run() throws {
    var helpers: [String: String] = [:]
    // A helper that is missing is shown as the error that a command needing it would give.
    for (name, path) in [
      ("liftoff-stage1", Result { try PodManager.stage1Path() }), ("liftoff-enter", Result { try PodManager.enterPath() }),
      ("liftoff-image", Result { try ImageTool.path() }),
    ] {
      switch path {
      case .success(let p): helpers[name] = p
      case .failure(let e): helpers[name] = "missing: \(e)"
      }
    }
    let s = Settings(
      dir: global.dir, registryConfigDir: global.registryConfigDir, insecureOptions: global.insecureOptions ?? "",
      cniConfDir: global.cniConfDir, cniBinDir: global.cniBinDir, cniDefaultNetwork: global.cniDefaultNetwork, helpers: helpers)
    if format == .json { return try printJSON(s) }
    print("# liftoff \(LiftoffVersion.version): effective settings (global flags and LIFTOFF_DIR; liftoff reads no config file)")
    print("dir = \(TOMLText.quote(s.dir))")
    print("registry-config-dir = \(TOMLText.quote(s.registryConfigDir))")
    print("insecure-options = \(TOMLText.quote(s.insecureOptions))")
    print("cni-conf-dir = \(TOMLText.quote(s.cniConfDir))")
    print("cni-bin-dir = \(TOMLText.quote(s.cniBinDir))")
    print("cni-default-network = \(s.cniDefaultNetwork)")
    print("\n[helpers]")
    for (name, path) in s.helpers.sorted(by: { $0.key < $1.key }) { print("\(name) = \(TOMLText.quote(path))") }
  }
}
