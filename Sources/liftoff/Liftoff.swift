// liftoff — the daemonless pod executor (rkt's stage0). Entry point and command tree only; every
// command lives in its own file. Errors: one line on stderr, non-zero exit.
import ArgumentParser
import Foundation
import LiftoffCLI
import LiftoffCatalog
import LiftoffCore
import LiftoffPod

@main
struct Liftoff: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "liftoff",
    abstract: "Liftoff pod executor (stage0): fetch images, run and manage pods.",
    version: LiftoffVersion.version,
    subcommands: [
      VersionCommand.self,
      ImageTool.Fetch.self, ImageTool.Image.self, ImageTool.Trust.self,
      RunCommand.self, PrepareCommand.self, RunPreparedCommand.self,
      ListCommand.self, StatusCommand.self, CatManifestCommand.self, EnterCommand.self,
      StopCommand.self, RmCommand.self, GCCommand.self, ConfigCommand.self,
      AppCommand.self,
    ])

  // Synchronous: no command of liftoff's awaits anything, and an async main would start the
  // concurrency runtime's thread pool (a thread creation per run).
  static func main() {
    let (globals, args) = CommandLineEntry.split(Array(CommandLine.arguments.dropFirst()))
    do {
      if ImageCommands.owns(args) { try ImageTool.exec() }
      if let spec = Stage0Command.specFile(globals: globals, args) {
        Stage0Command.runSpecFile(verb: spec.verb, path: spec.path, globals: globals)
      }
    } catch {
      CommandLineEntry.fail(error, Self.self)
    }
    CommandLineEntry.runSync(Self.self, globals: globals, args)
  }
}

struct GlobalOptions: ParsableArguments {
  @Option(name: .long, help: "Liftoff data directory.")
  var dir: String = Globals.defaultDirectory

  @Option(name: .long, help: "Registry configuration directory (hosts.toml layout).")
  var registryConfigDir: String = "/etc/liftoff/certs.d"

  @Option(name: .long, help: "Insecure options (image,http,…).")
  var insecureOptions: String?

  @Option(name: .long, help: "CNI network configuration directory (as liftoff-cri's).")
  var cniConfDir: String = Globals.defaultCNIConfDir

  @Option(name: .long, help: "CNI plugin directories, ':'-separated, searched in order.")
  var cniBinDir: String = Globals.defaultCNIBinDir

  @Option(name: .long, help: "Use the embedded default network (bridge liftoff0) when the conf dir is empty: true or false.")
  var cniDefaultNetwork: Bool = true

  @Option(name: .long, help: "Image trust policy directory (policy.toml or policy.json, keys/).")
  var trustDir: String = Globals.defaultTrustDir

  var cniBinDirs: [String] { values.cniBinDirs }

  var values: Globals {
    Globals(dir: dir, cniConfDir: cniConfDir, cniBinDir: cniBinDir, cniDefaultNetwork: cniDefaultNetwork, trustDir: trustDir)
  }

  /// The values, with images fetched as `policy` says (run and prepare).
  func fetching(_ policy: PullPolicy) -> Globals {
    var g = values
    if policy != .never {
      g.fetch = ImageFetch(policy: policy, registryConfigDir: registryConfigDir, insecureOptions: insecureOptions)
    }
    return g
  }
}

/// The global settings pod commands use, as plain values (GlobalOptions parsed, or Stage0Command's).
struct Globals: Sendable {
  static var defaultDirectory: String { getenv("LIFTOFF_DIR").map { String(cString: $0) } ?? "/var/lib/liftoff" }
  static let defaultCNIConfDir = "/etc/cni/net.d"
  static let defaultCNIBinDir = "/opt/cni/bin:/usr/lib/cni"
  static let defaultTrustDir = TrustPolicy.defaultDirectory

  var dir = Globals.defaultDirectory
  var cniConfDir = Globals.defaultCNIConfDir
  var cniBinDir = Globals.defaultCNIBinDir
  var cniDefaultNetwork = true
  var trustDir = Globals.defaultTrustDir
  /// How run and prepare fetch an image not in the store (nil: they do not; app add never does).
  var fetch: ImageFetch?

  /// `cniBinDir`'s parts. Plain loops here and in `apply`: on every request's path, and the generic
  /// split/map/joined cost a process first-time scans of the binary's conformance records (perf).
  var cniBinDirs: [String] {
    var out: [String] = []
    var part = ""
    for c in cniBinDir {
      if c != ":" {
        part.append(c)
      } else if !part.isEmpty {
        out.append(part)
        part = ""
      }
    }
    if !part.isEmpty { out.append(part) }
    return out
  }

  /// A request's settings (Stage0Settings) over these.
  mutating func apply(_ s: Stage0Settings) {
    if let v = s.dir { dir = v }
    if let v = s.cniConfDir { cniConfDir = v }
    if let v = s.cniBinDirs {
      var joined = ""
      for i in v.indices { joined += (i == 0 ? "" : ":") + v[i] }
      cniBinDir = joined
    }
    if let v = s.cniDefaultNetwork { cniDefaultNetwork = v }
    if let v = s.trustDir { trustDir = v }
  }
}

struct VersionCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "version", abstract: "Print liftoff's version.")

  @Option(help: "Output format: text or json.")
  var format: String = "text"

  func run() throws {
    switch format {
    case "json":
      print(#"{"version":"\#(LiftoffVersion.version)","criAPIVersion":"\#(LiftoffVersion.criAPIVersion)","criAPIUpstream":"\#(LiftoffVersion.criAPIUpstream)"}"#)
    case "text":
      print("liftoff version \(LiftoffVersion.version)")
      print("CRI API \(LiftoffVersion.criAPIVersion) (\(LiftoffVersion.criAPIUpstream))")
    default:
      throw ValidationError("unknown --format \"\(format)\": use text or json")
    }
  }
}
