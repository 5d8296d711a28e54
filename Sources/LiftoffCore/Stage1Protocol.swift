// The control protocol between stage0 (`liftoff …`, the CRI service through it) and stage1.
//
//   stage0 (any liftoff command)                      stage1 (one per pod, pods/run/<id>/)
//   ────────────────────────────                      ─────────────────────────────────────
//   connect(stage1/control.sock) ───────────────────▶ accept (poll loop, single-threaded)
//   one request, JSON + "\n"      ───────────────────▶ decode Stage1Request
//                                 ◀─────────────────── one Stage1Response, JSON + "\n"
//   close                                              close
//
// One request per connection; requests are handled one at a time in stage1's loop and answered at
// once (a stop is *begun*: the caller waits for the pod's flock or the app's state.json to learn that
// it finished). The socket is bound and reached through `/proc/self/fd/<dirfd>/control.sock`, since
// pod paths are too long for `sun_path`. Only root may connect (the socket is mode 0600).
//
// Every state change stage1 makes is also written to disk first (apps/<name>/state.json), so stage0
// never needs the socket to *read* state: the socket is only for asking stage1 to *do* something.

/// Versions, for upgrades: a pod outlives the liftoff build that started it, so a newer `liftoff` talks
/// to an older stage1 and must not ask it for what it cannot do. Each stage1 writes its level to
/// `stage1/protocol` when it starts; requests carry the sender's level as `"v"`, and a stage1 refuses a
/// request of a level above its own. Formats of today are kept as test fixtures (FormatFixtureTests).
///   1: stage1 of builds before 2026-12-04 (no `stage1/protocol` file, no `"v"`).
///   2: `"v"` in requests, `stage1/protocol`; bind mounts' `flags` (nosuid, nodev, noexec) in pod.json,
///      which a level-1 stage1 would ignore.
///   3: apps' `hooks` in pod.json (AppHook.swift), which a level-2 stage1 would ignore. No request changed,
///      so requests still say 2 (`requestLevel`): a level-2 stage1 goes on serving this build.
public enum Stage1Protocol {
  public static let level = 3
  /// The least level that understands every request this build sends (`"v"`).
  public static let requestLevel = 2
  /// Where a running stage1 keeps its level, relative to its pod's directory.
  public static let levelFile = "stage1/protocol"
  /// A level file's contents; nil when it does not hold one.
  public static func level(fromFile text: String) -> Int? {
    Int(text.split(whereSeparator: { $0 == "\n" || $0 == " " }).first ?? "")
  }
}

public enum Stage1Request: Sendable, Equatable {
  /// Is stage1 up and serving? Answered with `.ok`.
  case ping
  /// Stop every app (its stop signal, then SIGKILL after `timeoutSeconds`) and end the pod.
  case stopPod(timeoutSeconds: Int)
  /// Mutable pods: start the app `name` declared in pod.json (re-read by stage1).
  case startApp(name: String)
  /// Mutable pods: stop one app (stop signal, SIGKILL after `timeoutSeconds`).
  case stopApp(name: String, timeoutSeconds: Int)
  /// Mutable pods: forget an exited app (unmount its rootfs, remove its cgroup).
  case removeApp(name: String)
  /// Reopen the app's log file (after kubelet rotated it), without losing output.
  case reopenLog(name: String)

  public var json: JSON {
    let v: (String, JSON?) = ("v", .int(Stage1Protocol.requestLevel))
    switch self {
    case .ping: return .obj([("op", .string("ping")), v])
    case .stopPod(let t): return .obj([("op", .string("stopPod")), v, ("timeoutSeconds", .int(t))])
    case .startApp(let n): return .obj([("op", .string("startApp")), v, ("name", .string(n))])
    case .stopApp(let n, let t):
      return .obj([("op", .string("stopApp")), v, ("name", .string(n)), ("timeoutSeconds", .int(t))])
    case .removeApp(let n): return .obj([("op", .string("removeApp")), v, ("name", .string(n))])
    case .reopenLog(let n): return .obj([("op", .string("reopenLog")), v, ("name", .string(n))])
    }
  }

  public init(json j: JSON) throws(LiftoffError) {
    let ctx = "stage1 request"
    let op = try j.string("op", in: ctx)
    let level = try j.optInt64("v", in: ctx) ?? 1
    guard level <= Int64(Stage1Protocol.level) else {
      throw .init(
        .failedPrecondition,
        "\(ctx) \(op) is of protocol level \(level); this pod's stage1 speaks level \(Stage1Protocol.level) (stop and recreate the pod to upgrade it)")
    }
    switch op {
    case "ping": self = .ping
    case "stopPod": self = .stopPod(timeoutSeconds: Int(try j.optInt64("timeoutSeconds", in: ctx) ?? 10))
    case "startApp": self = .startApp(name: try j.string("name", in: ctx))
    case "stopApp":
      self = .stopApp(name: try j.string("name", in: ctx), timeoutSeconds: Int(try j.optInt64("timeoutSeconds", in: ctx) ?? 10))
    case "removeApp": self = .removeApp(name: try j.string("name", in: ctx))
    case "reopenLog": self = .reopenLog(name: try j.string("name", in: ctx))
    default: throw .invalidArgument("\(ctx): unknown op \(op)")
    }
  }
}

public enum Stage1Response: Sendable, Equatable {
  case ok
  /// The request failed; `code` is a `LiftoffError.Code` raw value.
  case error(code: String, message: String)

  public var json: JSON {
    switch self {
    case .ok: return .obj([("ok", .bool(true))])
    case .error(let c, let m): return .obj([("ok", .bool(false)), ("code", .string(c)), ("message", .string(m))])
    }
  }

  public init(json j: JSON) throws(LiftoffError) {
    if try j.optBool("ok", in: "stage1 response") == true {
      self = .ok
    } else {
      self = .error(
        code: try j.optString("code", in: "stage1 response") ?? "internal",
        message: try j.optString("message", in: "stage1 response") ?? "unknown error")
    }
  }

  public init(_ e: LiftoffError) { self = .error(code: e.code.rawValue, message: e.description) }

  /// Turns an error response back into the `LiftoffError` stage1 raised.
  public func check() throws(LiftoffError) {
    if case .error(let c, let m) = self {
      throw LiftoffError(LiftoffError.Code(rawValue: c) ?? .internal, m)
    }
  }
}

/// stage1's command line, built by stage0 (`run`: the pod lock; `app sandbox`: detached, with the start
/// and alive pipes) and parsed by stage1, in one place:
///   liftoff-stage1 --pod-dir DIR --lock-fd N [--detach] [--start-fd S --alive-fd A]
public struct Stage1Arguments: Sendable, Equatable {
  public var podDir: String
  public var lockFD: Int32
  public var detach = false
  public var startFD: Int32 = -1
  public var aliveFD: Int32 = -1

  public init(podDir: String, lockFD: Int32, detach: Bool = false, startFD: Int32 = -1, aliveFD: Int32 = -1) {
    self.podDir = podDir
    self.lockFD = lockFD
    self.detach = detach
    self.startFD = startFD
    self.aliveFD = aliveFD
  }

  /// The arguments after the program's name.
  public var arguments: [String] {
    var a = ["--pod-dir", podDir, "--lock-fd", String(lockFD)]
    if detach { a.append("--detach") }
    if startFD >= 0 { a += ["--start-fd", String(startFD)] }
    if aliveFD >= 0 { a += ["--alive-fd", String(aliveFD)] }
    return a
  }

  /// The arguments after the program's name; nil when they are not of this shape.
  public init?(parsing args: some Sequence<String>) {
    var rest = Array(args)[...]
    var podDir: String?
    var lockFD: Int32?
    var detach = false
    var startFD: Int32 = -1
    var aliveFD: Int32 = -1
    while let a = rest.popFirst() {
      switch a {
      case "--pod-dir": podDir = rest.popFirst()
      case "--lock-fd": lockFD = rest.popFirst().flatMap { Int32($0) }
      case "--detach": detach = true
      case "--start-fd": startFD = rest.popFirst().flatMap { Int32($0) } ?? -1
      case "--alive-fd": aliveFD = rest.popFirst().flatMap { Int32($0) } ?? -1
      default: return nil
      }
    }
    guard let podDir, let lockFD else { return nil }
    self.init(podDir: podDir, lockFD: lockFD, detach: detach, startFD: startFD, aliveFD: aliveFD)
  }
}
