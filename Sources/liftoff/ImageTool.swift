// `liftoff fetch`, `liftoff image …` and `liftoff trust …` run in liftoff-image, installed beside this binary: the
// registry client, TLS, hashing and libarchive stay out of the binary the CRI service runs for every
// pod and container change (they cost ~3 ms of each start-up: relocations, page faults, ten shared
// libraries). The commands are listed here for `liftoff --help`; main hands them over before parsing.
import ArgumentParser
import Foundation
import LiftoffCLI
import LiftoffCore

enum ImageTool {
  /// Replaces this process with liftoff-image, same arguments.
  static func exec() throws -> Never {
    let path = Self.besideMe()
    let argv = [path] + CommandLine.arguments.dropFirst()
    var cArgs = argv.map { strdup($0) } + [nil]
    execv(path, &cArgs)
    throw LiftoffError(
      .failedPrecondition, "cannot run \(path): \(String(cString: strerror(errno))) (fetch and image commands live there, beside liftoff)")
  }

  /// liftoff-image's path beside this executable (whether it is there or not).
  static func besideMe() -> String {
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return (me as NSString).deletingLastPathComponent + "/liftoff-image"
  }

  /// liftoff-image beside this executable; an error naming where it should be when it is missing.
  static func path() throws(LiftoffError) -> String {
    let path = besideMe()
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw .init(.failedPrecondition, "liftoff-image not found at \(path) (fetch and image commands live there, beside liftoff)")
    }
    return path
  }

  struct Fetch: ParsableCommand {
    static let configuration = ImageCommands.fetch
    @Argument(parsing: .allUnrecognized) var arguments: [String] = []
    func run() throws { try ImageTool.exec() }
  }

  struct Image: ParsableCommand {
    static let configuration = ImageCommands.image
    @Argument(parsing: .allUnrecognized) var arguments: [String] = []
    func run() throws { try ImageTool.exec() }
  }

  struct Trust: ParsableCommand {
    static let configuration = ImageCommands.trust
    @Argument(parsing: .allUnrecognized) var arguments: [String] = []
    func run() throws { try ImageTool.exec() }
  }
}
