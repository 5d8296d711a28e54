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

struct FetchCommand: NotBuiltCommand {
  static let configuration = notBuilt("fetch", "Fetch images into the store.")
  static let issue = "images"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct ImageCommand: NotBuiltCommand {
  static let configuration = notBuilt("image", "list|status|rm|export|extract|render|cat-manifest|gc")
  static let issue = "images"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct RunCommand: NotBuiltCommand {
  static let configuration = notBuilt("run", "Run a pod in the foreground.")
  static let issue = "pod executor"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct PrepareCommand: NotBuiltCommand {
  static let configuration = notBuilt("prepare", "Prepare a pod to run later.")
  static let issue = "pod executor"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct RunPreparedCommand: NotBuiltCommand {
  static let configuration = notBuilt("run-prepared", "Run a prepared pod.")
  static let issue = "pod executor"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct ListCommand: NotBuiltCommand {
  static let configuration = notBuilt("list", "List pods.")
  static let issue = "pod executor"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct StatusCommand: NotBuiltCommand {
  static let configuration = notBuilt("status", "Show a pod's status.")
  static let issue = "pod executor"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct CatManifestCommand: NotBuiltCommand {
  static let configuration = notBuilt("cat-manifest", "Print a pod's manifest.")
  static let issue = "pod executor"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct EnterCommand: NotBuiltCommand {
  static let configuration = notBuilt("enter", "Run a command inside a running pod.")
  static let issue = "pod executor"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct StopCommand: NotBuiltCommand {
  static let configuration = notBuilt("stop", "Stop a pod.")
  static let issue = "pod executor"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct RmCommand: NotBuiltCommand {
  static let configuration = notBuilt("rm", "Remove a pod.")
  static let issue = "pod executor"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct GCCommand: NotBuiltCommand {
  static let configuration = notBuilt("gc", "Remove exited and half-made pods.")
  static let issue = "pod executor"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}

struct AppCommand: NotBuiltCommand {
  static let configuration = notBuilt("app", "sandbox|add|start|stop|rm|list|status for mutable pods")
  static let issue = "mutable pods"
  @Argument(parsing: .captureForPassthrough) var rest: [String] = []
}
