// liftoff — the daemonless pod executor (rkt's stage0). Entry point and command tree only; every
// command lives in its own file. Errors: one line on stderr, non-zero exit.
import ArgumentParser
import Foundation
import LiftoffCore

@main
struct Liftoff: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "liftoff",
    abstract: "Liftoff pod executor (stage0): fetch images, run and manage pods.",
    version: LiftoffVersion.version,
    subcommands: [
      VersionCommand.self,
      FetchCommand.self, ImageCommand.self,
      RunCommand.self, PrepareCommand.self, RunPreparedCommand.self,
      ListCommand.self, StatusCommand.self, CatManifestCommand.self, EnterCommand.self,
      StopCommand.self, RmCommand.self, GCCommand.self,
      AppCommand.self,
    ])

  /// `liftoff --dir X COMMAND …` is how scripts call rkt-style tools; ArgumentParser wants
  /// subcommand options after the subcommand, so global options are moved there.
  static func main() async {
    var args = Array(CommandLine.arguments.dropFirst())
    var globals: [String] = []
    let globalWithValue: Set<String> = [
      "--dir", "--registry-config-dir", "--insecure-options", "--cni-conf-dir", "--cni-bin-dir", "--cni-default-network",
    ]
    while let first = args.first, first.hasPrefix("--") {
      let name = String(first.split(separator: "=", maxSplits: 1)[0])
      guard globalWithValue.contains(name) else { break }
      globals.append(args.removeFirst())
      if !first.contains("="), let v = args.first {
        globals.append(v)
        args.removeFirst()
      }
    }
    // `liftoff run --help`: commands that pass their arguments through (run, prepare, enter, app add)
    // would take --help as theirs; right after the command path it always means help.
    if let h = args.firstIndex(where: { $0 == "--help" || $0 == "-h" }), h >= 1,
      args[..<h].allSatisfy({ !$0.hasPrefix("-") }), h <= 2
    {
      args = ["help"] + args[..<h]
    }
    if !globals.isEmpty, !args.isEmpty {
      // After the (sub)command path: `app sandbox`, `image list`, … have two words.
      let at = ((args[0] == "app" || args[0] == "image") && args.count > 1 && !args[1].hasPrefix("-")) ? 2 : 1
      args.insert(contentsOf: globals, at: at)
    }
    do {
      var command = try parseAsRoot(args)
      if var asyncCommand = command as? any AsyncParsableCommand {
        try await asyncCommand.run()  // fetch, image …
      } else {
        try command.run()
      }
    } catch let e as LiftoffError {
      FileHandle.standardError.write(Data("liftoff: \(e.description)\n".utf8))
      Foundation.exit(e.exitCode)
    } catch let e as PodExit {
      Foundation.exit(e.code)
    } catch {
      exit(withError: error)
    }
  }
}

/// A command's wish to exit with a given status without printing an error.
struct PodExit: Error { var code: Int32 }

struct GlobalOptions: ParsableArguments {
  @Option(name: .long, help: "Liftoff data directory.")
  var dir: String = ProcessInfo.processInfo.environment["LIFTOFF_DIR"] ?? "/var/lib/liftoff"

  @Option(name: .long, help: "Registry configuration directory (hosts.toml layout).")
  var registryConfigDir: String = "/etc/liftoff/certs.d"

  @Option(name: .long, help: "Insecure options (image,http,…).")
  var insecureOptions: String?

  @Option(name: .long, help: "CNI network configuration directory (as liftoff-cri's).")
  var cniConfDir: String = "/etc/cni/net.d"

  @Option(name: .long, help: "CNI plugin directories, ':'-separated, searched in order.")
  var cniBinDir: String = "/opt/cni/bin:/usr/lib/cni"

  @Option(name: .long, help: "Use the embedded default network (bridge liftoff0) when the conf dir is empty: true or false.")
  var cniDefaultNetwork: Bool = true

  var cniBinDirs: [String] { cniBinDir.split(separator: ":").map(String.init).filter { !$0.isEmpty } }
}

enum OutputFormat: String, ExpressibleByArgument { case text, json }

func printJSON<T: Encodable>(_ value: T) throws {
  let enc = JSONEncoder()
  enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  let data = try enc.encode(value)
  print(String(decoding: data, as: UTF8.self))
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
