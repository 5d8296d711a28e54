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
  /// Runs the request; its result as JSON (`{}` when it has none). What is left to delete once the
  /// answer is out (an app's directory, `app rm`) goes to `afterAnswer`.
  static func perform(_ request: Stage0Request, _ global: Globals, afterAnswer: inout [String]) throws -> JSON {
    try check(request)
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
      if let removed = try AppManager(store: store).unlist(try store.resolve(pod).id, app: app) { afterAnswer.append(removed) }
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

  /// What the flags' parsers refuse and a JSON request could still hold: an empty annotation or label key.
  static func check(_ request: Stage0Request) throws {
    let maps: [(String, [String: String])]
    switch request {
    case .sandbox(let r): maps = [("sandbox.annotations", r.annotations), ("sandbox.labels", r.labels)]
    case .add(_, let a): maps = [("app.annotations", a.annotations), ("app.labels", a.labels), ("app.sysctls", a.sysctls)]
    default: return
    }
    for (field, m) in maps where m[""] != nil { throw LiftoffError.invalidArgument("\(field): empty key") }
  }

  /// The flags' form: runs the request and prints what the verb printed before requests (the pod ID
  /// of `app sandbox`, the app's name of `app add`).
  static func print(_ request: Stage0Request, _ global: Globals) throws {
    var afterAnswer: [String] = []
    let result = try perform(request, global, afterAnswer: &afterAnswer)
    for path in afterAnswer { try AppManager.delete(path) }
    if let line = result["id"]?.stringValue ?? result["app"]?.stringValue { Swift.print(line) }
  }

  /// `[globals] VERB… --spec-file -|PATH` (or `--spec-file=…`): the request read from stdin or PATH.
  /// nil when the command line is not of that shape (it then goes to ArgumentParser, as every other).
  static func specFile(globals: [String], _ args: [String]) -> (verb: String, path: String)? {
    // Plain loops and a switch: this runs before every command, and each generic wrapper type
    // (joined, slices, sets) costs a process a scan of the binary's conformance records.
    let n = args.count
    // `request --spec-file -`: whichever op the request names (liftoff-cri's spare, SpareProcess).
    if n == 3, args[0] == "request", args[1] == "--spec-file" { return ("request", args[2]) }
    guard n >= 2, args[0] == "app" || args[0] == "stop" || args[0] == "rm" else { return nil }
    let words = args[0] == "app" ? 2 : 1
    guard n > words else { return nil }
    let verb = words == 2 ? "app " + args[1] : args[0]
    var known = false
    for v in Stage0Request.verbs where v == verb { known = true }
    guard known else { return nil }
    let flag = args[words]
    if n == words + 1, flag.hasPrefix("--spec-file=") { return (verb, String(flag.dropFirst(12))) }
    guard n == words + 2, flag == "--spec-file" else { return nil }
    return (verb, args[words + 1])
  }

  /// Runs `--spec-file`: exactly one JSON answer on stdout; exit 0 on `ok`, else the error's exit code.
  static func runSpecFile(verb: String, path: String, globals: [String]) -> Never {
    let answer: Stage0Answer
    var afterAnswer: [String] = []
    do {
      guard var global = Self.globals(globals) else {
        throw LiftoffError.invalidArgument("global flags \(globals.joined(separator: " ")): expected --NAME VALUE settings")
      }
      let bytes: [UInt8]
      do { bytes = try FileSystem.readBytes(path == "-" ? "/dev/stdin" : path) } catch {
        throw LiftoffError.invalidArgument("--spec-file \(path): \(error)")
      }
      let (request, settings) = try Stage0Request.read(try JSON.parse(bytes: bytes))
      if let settings {
        // One source of settings: a request's replace the flags, so both at once is a mistake.
        guard globals.isEmpty else {
          throw LiftoffError.invalidArgument(
            "--spec-file \(path): the request has settings and the command line has global flags (\(globals.joined(separator: " "))): give one")
        }
        global.apply(settings)
      }
      guard verb == "request" || request.verb == verb else {
        throw LiftoffError.invalidArgument("--spec-file \(path): op \"\(request.verb)\" is not this command's (\(verb))")
      }
      answer = .ok(try perform(request, global, afterAnswer: &afterAnswer))
    } catch let e as LiftoffError {
      answer = .error(e.code, e.description)
    } catch {
      answer = .error(.internal, "\(error)")
    }
    // Bytes straight to fd 1 (no FileHandle, no Data's generic initializer: each costs first-time
    // conformance scans).
    try? FileSystem.writeAll(1, Array((answer.json.serialized() + "\n").utf8))
    // The answer is whole: stdout and stderr end here, not at the exit, whose teardown of this
    // process (~0.5 ms) liftoff-cri then does not wait for (Subprocess.answerAtEndOfOutput). No lock
    // is held any more: each is released where it was taken. Then the deletions left for now.
    let null = open("/dev/null", O_RDWR | O_CLOEXEC)
    if null >= 0 {
      dup2(null, 1)
      dup2(null, 2)
    }
    for path in afterAnswer { try? AppManager.delete(path) }
    if case .error(let code, _) = answer { exit(LiftoffError(code, "").exitCode) }
    exit(0)
  }

  /// The settings the global flags give (GlobalOptions' defaults otherwise), or nil when one is
  /// repeated, lacks its value or has one ArgumentParser would refuse.
  static func globals(_ flags: [String]) -> Globals? {
    var g = Globals()
    var seen: [String] = []
    var i = 0
    while i < flags.count {
      let a = flags[i]
      i += 1
      let name: String
      let value: String
      if let eq = a.firstIndex(of: "=") {
        name = String(a[..<eq])
        value = String(a[a.index(after: eq)...])
      } else {
        guard i < flags.count else { return nil }
        name = a
        value = flags[i]
        i += 1
      }
      for s in seen where s == name { return nil }
      seen.append(name)
      switch name {
      case "--dir": g.dir = value
      case "--cni-conf-dir": g.cniConfDir = value
      case "--cni-bin-dir": g.cniBinDir = value
      case "--trust-dir": g.trustDir = value
      case "--cni-default-network":
        guard value == "true" || value == "false" else { return nil }
        g.cniDefaultNetwork = value == "true"
      case "--registry-config-dir", "--insecure-options": break  // image fetching: not these verbs'
      default: return nil
      }
    }
    return g
  }
}
