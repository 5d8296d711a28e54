// What the two executables behind the `liftoff` command share: `liftoff` (pods, apps — the binary the
// CRI service runs for every change, kept free of the registry, TLS and archive code) and
// `liftoff-image` (fetch and image …, which `liftoff` hands those commands to). Global flags before
// the command, help after the command path, one-line errors and exit codes work the same in both.
import ArgumentParser
import Foundation
import LiftoffCore

public enum CommandLineEntry {
  /// The global flags (all take a value), accepted before the command too.
  public static let globalNames: Set<String> = [
    "--dir", "--registry-config-dir", "--insecure-options", "--cni-conf-dir", "--cni-bin-dir", "--cni-default-network",
    "--trust-dir",
  ]

  /// `liftoff --dir X COMMAND …` is how scripts call rkt-style tools: the global flags given before the
  /// command come apart from the rest. `liftoff run --help`: commands that pass their arguments
  /// through (run, prepare, enter, app add) would take --help as theirs; right after the command path
  /// it always means help, so it becomes `help PATH`.
  public static func split(_ argv: [String]) -> (globals: [String], args: [String]) {
    var args = argv
    var globals: [String] = []
    while let first = args.first, first.hasPrefix("--") {
      let name = String(first.split(separator: "=", maxSplits: 1)[0])
      guard globalNames.contains(name) else { break }
      globals.append(args.removeFirst())
      if !first.contains("="), let v = args.first {
        globals.append(v)
        args.removeFirst()
      }
    }
    if let h = args.firstIndex(where: { $0 == "--help" || $0 == "-h" }), h >= 1,
      args[..<h].allSatisfy({ !$0.hasPrefix("-") }), h <= 2
    {
      args = ["help"] + args[..<h]
    }
    return (globals, args)
  }

  /// Parses `globals` + `args` as `Root`'s command line (ArgumentParser wants subcommand options after
  /// the subcommand, so the globals move there) and runs the command; errors end the process.
  public static func run<Root: ParsableCommand>(_ root: Root.Type, globals: [String], _ args: [String]) async {
    do {
      var command = try Root.parseAsRoot(withGlobals(globals, args))
      if var asyncCommand = command as? any AsyncParsableCommand {
        try await asyncCommand.run()  // fetch, image …
      } else {
        try command.run()
      }
    } catch {
      fail(error, Root.self)
    }
  }

  /// `run` for a tree of synchronous commands (liftoff's), without starting the concurrency runtime.
  public static func runSync<Root: ParsableCommand>(_ root: Root.Type, globals: [String], _ args: [String]) {
    do {
      var command = try Root.parseAsRoot(withGlobals(globals, args))
      try command.run()
    } catch {
      fail(error, Root.self)
    }
  }

  static func withGlobals(_ globals: [String], _ args: [String]) -> [String] {
    var args = args
    if !globals.isEmpty, !args.isEmpty, args[0] != "help" {  // help needs no settings
      // After the (sub)command path: `app sandbox`, `image list`, `trust add`, … have two words.
      let at = (["app", "image", "trust"].contains(args[0]) && args.count > 1 && !args[1].hasPrefix("-")) ? 2 : 1
      args.insert(contentsOf: globals, at: at)
    }
    return args
  }

  /// One line on stderr and liftoff's exit status for the error.
  public static func fail<Root: ParsableCommand>(_ error: any Error, _ root: Root.Type) -> Never {
    switch error {
    case let e as LiftoffError:
      FileHandle.standardError.write(Data("liftoff: \(e.description)\n".utf8))
      Foundation.exit(e.exitCode)
    case let e as PodExit:
      Foundation.exit(e.code)
    default:
      Root.exit(withError: error)
    }
  }
}

/// A command's wish to exit with a given status without printing an error.
public struct PodExit: Error {
  public var code: Int32
  public init(code: Int32) { self.code = code }
}

public enum OutputFormat: String, ExpressibleByArgument, Sendable { case text, json }

public func printJSON<T: Encodable>(_ value: T) throws {
  let enc = JSONEncoder()
  enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  let data = try enc.encode(value)
  print(String(decoding: data, as: UTF8.self))
}

/// The commands `liftoff-image` runs, as `liftoff --help` lists them.
public enum ImageCommands {
  public static let fetch = CommandConfiguration(
    commandName: "fetch",
    abstract: "Fetch images into the store and print their IDs.",
    discussion: """
      SOURCE is docker://HOST/REPO[:TAG|@DIGEST] or a plain reference (normalised as Docker does:
      busybox means docker.io/library/busybox:latest), oci-layout:DIR[:TAG], oci-archive:FILE,
      docker-archive:FILE, or FILE.aci. Credentials come from ~/.docker/config.json.
      """)

  public static let image = CommandConfiguration(commandName: "image", abstract: "Manage images in the store.")

  public static let trust = CommandConfiguration(
    commandName: "trust", abstract: "Manage the image trust policy: keys and rules per registry prefix (rkt's trust).")

  /// Whether a command line (after the global flags) is one of them, or help about one.
  /// Plain string compares: this runs before every command, and the CommandConfiguration values and
  /// `contains` on optionals would cost each process first-time conformance scans.
  public static func owns(_ args: [String]) -> Bool {
    guard !args.isEmpty else { return false }
    let name = args[0] == "help" && args.count > 1 ? args[1] : args[0]
    return name == "fetch" || name == "image" || name == "trust"
  }
}
