// liftoff-image — `liftoff fetch` and `liftoff image …`: `liftoff` hands these commands (and help about
// them) to this binary, installed beside it, so that the registry client, TLS, hashing and libarchive
// are loaded only by the commands that use them. Run directly it is the same command line.
import ArgumentParser
import LiftoffCLI
import LiftoffCore

@main
struct LiftoffImageTool: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "liftoff",
    abstract: "Liftoff image commands (run through liftoff).",
    version: LiftoffVersion.version,
    subcommands: [FetchCommand.self, ImageCommand.self, TrustCommand.self])

  static func main() async {
    let (globals, args) = CommandLineEntry.split(Array(CommandLine.arguments.dropFirst()))
    await CommandLineEntry.run(Self.self, globals: globals, args)
  }
}
