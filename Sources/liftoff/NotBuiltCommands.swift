// Commands of the command tree (shared/DESIGN.md) that are not built yet. Each exits non-zero with one
// clear line; a command moves to its own file when its issue lands.
import ArgumentParser
import Foundation

protocol NotBuiltCommand: ParsableCommand {
  static var issue: String { get }
}

extension NotBuiltCommand {
  func run() throws {
    let name = Self.configuration.commandName ?? "?"
    FileHandle.standardError.write(Data("liftoff: '\(name)' is not built yet (\(Self.issue))\n".utf8))
    throw ExitCode(3)
  }
}

private func notBuilt(_ name: String, _ abstract: String) -> CommandConfiguration {
  CommandConfiguration(commandName: name, abstract: abstract + " (not built yet)")
}
