import ArgumentParser
import Foundation
import LiftoffCLI
import LiftoffCore
import LiftoffOS
import LiftoffPod

struct ListCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "list", abstract: "List pods.")
  @OptionGroup var global: GlobalOptions
  @Option var format: OutputFormat = .text
  @Flag(help: "Show full pod IDs.") var full = false

  func run() throws {
    let pods = PodManager(store: try PodStore(root: global.dir)).list()
    if format == .json { return try printJSON(pods) }
    print(["UUID", "APP", "IMAGE NAME", "STATE", "CREATED"].joined(separator: "\t"))
    for p in pods {
      let id = full ? p.id : String(p.id.prefix(12))
      if p.apps.isEmpty { print([id, "-", "-", p.state, p.createdAt ?? "-"].joined(separator: "\t")) }
      for (i, a) in p.apps.enumerated() {
        print([i == 0 ? id : "", a.name, a.image, i == 0 ? p.state : "", i == 0 ? (p.createdAt ?? "-") : ""].joined(separator: "\t"))
      }
    }
  }
}

struct StatusCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "status", abstract: "Show a pod's status.")
  @OptionGroup var global: GlobalOptions
  @Option var format: OutputFormat = .text
  @Flag(help: "Wait until the pod has exited.") var wait = false
  @Flag(help: "Wait until the pod runs and every app in it is running (fails if the pod or an app exits first).")
  var waitReady = false
  @Option(help: "Read the pod's UUID from FILE (written by run --uuid-file-save).") var uuidFile: String?
  @Argument(help: "Pod ID or unique prefix.") var id: String?

  func run() throws {
    let store = try PodStore(root: global.dir)
    let m = PodManager(store: store)
    if wait && waitReady { throw ValidationError("--wait and --wait-ready: choose one") }
    let (full, _) = try store.resolve(try UUIDFile.ids(id.map { [$0] } ?? [], uuidFile: uuidFile)[0])
    if wait { _ = m.waitExited(full) }
    if waitReady { try Self.waitReady(m, full) }
    let s = try m.status(full)
    if format == .json { return try printJSON(s) }
    print("state=\(s.state)")
    print("created=\(s.createdAt ?? "")")
    if let pid = s.pid { print("pid=\(pid)") }
    if let c = s.exitCode { print("exit-code=\(c)") }
    if let ips = s.ips { print("ips=\(ips.joined(separator: ","))") }
    for a in s.apps {
      var line = "app-\(a.name)=\(a.state)"
      if let c = a.exitCode { line += " exit-code=\(c)" }
      if let sig = a.signal { line += " signal=\(sig)" }
      if let r = a.reason { line += " reason=\(r)" }
      if let msg = a.message { line += " message=\"\(msg)\"" }
      print(line)
    }
  }
}

extension StatusCommand {
  /// Polls the pod's status (0.5 ms steps growing to 50 ms) until it runs with every app running.
  static func waitReady(_ m: PodManager, _ id: String) throws {
    var interval = PollInterval(first: 0.000_5, cap: 0.05)
    while true {
      let s = try m.status(id)
      if s.state == "running" && !s.apps.isEmpty && s.apps.allSatisfy({ $0.state == "running" }) { return }
      if let app = s.apps.first(where: { $0.state == "exited" }) {
        throw LiftoffError(.failedPrecondition, "pod \(id): app \(app.name) exited before the pod was ready")
      }
      if !["embryo", "preparing", "prepared", "running"].contains(s.state) {
        throw LiftoffError(.failedPrecondition, "pod \(id) is \(s.state): it will not become ready")
      }
      interval.sleep()
    }
  }
}

struct CatManifestCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "cat-manifest", abstract: "Print a pod's manifest.")
  @OptionGroup var global: GlobalOptions
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws {
    let store = try PodStore(root: global.dir)
    let (full, place) = try store.resolve(id)
    print(try store.readManifest(full, at: place).json.serialized(pretty: true))
  }
}

struct EnterCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "enter", abstract: "Run a command inside a running app (default /bin/sh).")
  @OptionGroup var global: GlobalOptions
  @Option(help: "The app to enter (needed when the pod has several).") var app: String?
  @Flag(help: "Make stdin (a terminal) the command's controlling terminal, in a new session.") var tty = false
  @Argument(help: "Pod ID or unique prefix.") var id: String
  @Argument(parsing: .captureForPassthrough, help: "Command and arguments.") var command: [String] = []

  func run() throws {
    let store = try PodStore(root: global.dir)
    let (full, _) = try store.resolve(id)
    let cmd = command.first == "--" ? Array(command.dropFirst()) : command
    try PodManager(store: store).enter(full, app: app, command: cmd, tty: tty)
  }
}

struct StopCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stop", abstract: "Stop running pods (stop signal, then SIGKILL after the timeout).")
  @OptionGroup var global: GlobalOptions
  @Flag(help: "SIGKILL stage1 at once.") var force = false
  @Option(help: "Seconds before SIGKILL (default: the pod's stop timeout).") var timeout: Int?
  @Option(help: "Read the pod's UUID from FILE (written by run --uuid-file-save).") var uuidFile: String?
  @Argument(help: "Pod IDs or unique prefixes.") var ids: [String] = []

  func run() throws {
    try Self.stop(dir: global.dir, ids: try UUIDFile.ids(ids, uuidFile: uuidFile), force: force, timeout: timeout) { print($0) }
  }

  /// Stops each pod; `done` gets each one stopped. A failure does not stop the others; all failures
  /// are thrown together at the end, with the first one's code.
  static func stop(dir: String, ids: [String], force: Bool, timeout: Int?, done: (String) -> Void = { _ in }) throws {
    let store = try PodStore(root: dir)
    try forEachPod(ids, "stop", store: store, done: done) { try PodManager(store: store).stop($0, force: force, timeoutSeconds: timeout) }
  }

  /// `body` on each pod's full ID; the failures as one LiftoffError (the first's code) at the end.
  static func forEachPod(
    _ ids: [String], _ verb: String, store: PodStore, done: (String) -> Void, _ body: (String) throws -> Void
  ) throws {
    var failures: [(String, any Error)] = []
    for id in ids {
      do {
        let (full, _) = try store.resolve(id)
        try body(full)
        done(full)
      } catch {
        failures.append((id, error))
      }
    }
    guard let first = failures.first else { return }
    if failures.count == 1, let e = first.1 as? LiftoffError { throw e }
    let code = (first.1 as? LiftoffError)?.code ?? .internal
    throw LiftoffError(code, failures.map { "\(verb) \($0.0): \($0.1)" }.joined(separator: "; "))
  }
}

struct RmCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove exited pods.")
  @OptionGroup var global: GlobalOptions
  @Option(help: "Read the pod's UUID from FILE (written by run --uuid-file-save).") var uuidFile: String?
  @Argument(help: "Pod IDs or unique prefixes.") var ids: [String] = []

  func run() throws { try Self.remove(dir: global.dir, ids: try UUIDFile.ids(ids, uuidFile: uuidFile)) { print($0) } }

  static func remove(dir: String, ids: [String], done: (String) -> Void = { _ in }) throws {
    let store = try PodStore(root: dir)
    try StopCommand.forEachPod(ids, "rm", store: store, done: done) { try PodManager(store: store).remove($0) }
  }
}

struct GCCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gc", abstract: "Remove exited pods older than the grace period and whatever crashes left.")
  @OptionGroup var global: GlobalOptions
  @Option(help: "How long exited pods are kept (e.g. 0, 90s, 30m, 1h).") var gracePeriod: String = "30m"

  func run() throws {
    let store = try PodStore(root: global.dir)
    let grace = try parseDuration(gracePeriod)
    var manager = PodManager(store: store)
    manager.cni = (global.cniConfDir, global.cniBinDirs, global.cniDefaultNetwork)
    let r = manager.gc(gracePeriod: grace)
    for id in r.removed { print("removed \(id)") }
    for e in r.errors { FileHandle.standardError.write(Data("liftoff: gc: \(e)\n".utf8)) }
    if !r.errors.isEmpty { throw PodExit(code: 1) }
  }

  func parseDuration(_ s: String) throws -> Double {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("", 1)]
    for (u, mult) in units where s.hasSuffix(u) {
      if let v = Double(s.dropLast(u.count)), v >= 0 { return v * mult }
    }
    throw LiftoffError.invalidArgument("--grace-period \(s): expected a duration like 0, 90s, 30m, 1h")
  }
}
