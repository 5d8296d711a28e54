// One path from a Stage0Request (LiftoffPod/Stage0Request.swift) to the command functions: the flags
// build the request and print its result as text; `liftoff … VERB --spec-file -|PATH` reads it as JSON
// and prints one Stage0Answer. That form is taken here, before ArgumentParser: its reflection over the
// command tree (Mirror, conformance lookups over this binary's ~9,000 conformance records) cost ~4 ms
// of each ~10 ms run, and liftoff-cri runs a `liftoff` for every pod and container change.
import Foundation
import LiftoffCLI
import LiftoffCore
import LiftoffOS
import LiftoffPod

enum Stage0Command {
  /// Runs the request; its result as JSON (`{}` when it has none).
  static func perform(_ request: Stage0Request, _ global: Globals) throws -> JSON {
    let none = JSON.object([])
    switch request {
    case .sandbox(let r): return .obj([("id", .string(try AppSandboxCommand.sandbox(global, r)))])
    case .add(let pod, let app): return .obj([("app", .string(try AppAddCommand.add(global, pod: pod, app)))])
    case .start(let pod, let app):
      let store = try PodStore(root: global.dir)
      try AppManager(store: store).start(try store.resolve(pod).id, app: app)
    case .stop(let pod, let app, let timeout):
      let store = try PodStore(root: global.dir)
      try AppManager(store: store).stop(try store.resolve(pod).id, app: app, timeoutSeconds: timeout)
    case .remove(let pod, let app):
      let store = try PodStore(root: global.dir)
      try AppManager(store: store).remove(try store.resolve(pod).id, app: app)
    case .reopenLog(let pod, let app): try AppReopenLogCommand.reopenLog(dir: global.dir, pod: pod, app: app)
    case .update(let pod, let app, let r, let oom):
      return try AppUpdateCommand.update(dir: global.dir, pod: pod, app: app, r, oomScoreAdj: oom)
    case .stopPods(let ids, let force, let timeout):
      var done: [String] = []
      try StopCommand.stop(dir: global.dir, ids: ids, force: force, timeout: timeout) { done.append($0) }
      return .obj([("pods", .strs(done))])
    case .removePods(let ids):
      var done: [String] = []
      try RmCommand.remove(dir: global.dir, ids: ids) { done.append($0) }
      return .obj([("pods", .strs(done))])
    }
    return none
  }

  /// The flags' form: runs the request and prints what the verb printed before requests (the pod ID
  /// of `app sandbox`, the app's name of `app add`).
  static func print(_ request: Stage0Request, _ global: Globals) throws {
    let result = try perform(request, global)
    if let line = result["id"]?.stringValue ?? result["app"]?.stringValue { Swift.print(line) }
  }

  /// `[globals] VERB… --spec-file -|PATH` (or `--spec-file=…`): the request read from stdin or PATH.
  /// nil when the command line is not of that shape (it then goes to ArgumentParser, as every other).
  static func specFile(globals: [String], _ args: [String]) -> (verb: String, path: String)? {
    guard let i = args.firstIndex(where: { $0 == "--spec-file" || $0.hasPrefix("--spec-file=") }) else { return nil }
    let verb = args[..<i].joined(separator: " ")
    guard Stage0Request.verbs.contains(verb) else { return nil }
    let rest = args[i...]
    if rest.count == 1, rest[i].hasPrefix("--spec-file=") { return (verb, String(rest[i].dropFirst("--spec-file=".count))) }
    guard rest.count == 2 else { return nil }
    return (verb, rest[i + 1])
  }

  /// Runs `--spec-file`: exactly one JSON answer on stdout; exit 0 on `ok`, else the error's exit code.
  static func runSpecFile(verb: String, path: String, globals: [String]) -> Never {
    let answer: Stage0Answer
    do {
      guard let global = Self.globals(globals) else {
        throw LiftoffError.invalidArgument("global flags \(globals.joined(separator: " ")): expected --NAME VALUE settings")
      }
      let bytes: [UInt8]
      do { bytes = try FileSystem.readBytes(path == "-" ? "/dev/stdin" : path) } catch {
        throw LiftoffError.invalidArgument("--spec-file \(path): \(error)")
      }
      let request = try Stage0Request(json: try JSON.parse(bytes: bytes))
      guard request.verb == verb else {
        throw LiftoffError.invalidArgument("--spec-file \(path): op \"\(request.verb)\" is not this command's (\(verb))")
      }
      answer = .ok(try perform(request, global))
    } catch let e as LiftoffError {
      answer = .error(e.code, e.description)
    } catch {
      answer = .error(.internal, "\(error)")
    }
    FileHandle.standardOutput.write(Data((answer.json.serialized() + "\n").utf8))
    if case .error(let code, _) = answer { exit(LiftoffError(code, "").exitCode) }
    exit(0)
  }

  /// The settings the global flags give (GlobalOptions' defaults otherwise), or nil when one is
  /// repeated, lacks its value or has one ArgumentParser would refuse.
  static func globals(_ flags: [String]) -> Globals? {
    var values: [String: String] = [:]
    var rest = flags[...]
    while let a = rest.popFirst() {
      let parts = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      guard CommandLineEntry.globalNames.contains(parts[0]), values[parts[0]] == nil else { return nil }
      guard let v = parts.count == 2 ? parts[1] : rest.popFirst() else { return nil }
      values[parts[0]] = v
    }
    var g = Globals()
    if let v = values["--dir"] { g.dir = v }
    if let v = values["--cni-conf-dir"] { g.cniConfDir = v }
    if let v = values["--cni-bin-dir"] { g.cniBinDir = v }
    if let v = values["--trust-dir"] { g.trustDir = v }
    if let b = values["--cni-default-network"] {
      guard b == "true" || b == "false" else { return nil }
      g.cniDefaultNetwork = b == "true"
    }
    return g
  }
}
