// liftoff — the daemonless pod executor (rkt's stage0). Entry point and command tree only; every
// command lives in its own file. Errors: one line on stderr, non-zero exit.
import ArgumentParser
import LiftoffCore

@main
struct Liftoff: ParsableCommand {
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
