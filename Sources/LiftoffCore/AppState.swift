// The runtime state of one app, `pods/<state>/<id>/apps/<name>/state.json`, written atomically by
// stage1 (temp name, fsync, rename) each time the app changes state. Read by stage0 and the CRI
// service straight from disk. The immutable app settings live in pod.json; only this file changes.
//
// An enum with what each phase has: a running app always has a PID and a start time, an exited one
// always has an exit code, a reason and a finish time; a created one has nothing. The file keeps its
// flat form (`phase` plus the fields that phase has; fixtures in Tests/LiftoffCoreTests/Fixtures),
// which older and newer builds read alike.

public enum AppState: Sendable, Equatable {
  case created
  case running(Running)
  case exited(Exited)

  public enum Phase: String, Sendable, CaseIterable { case created, running, exited }
  /// CRI reasons for an exited container.
  public enum Reason: String, Sendable, CaseIterable {
    case completed = "Completed", error = "Error", oomKilled = "OOMKilled", startFailed = "StartFailed"
  }

  public struct Running: Sendable, Equatable {
    public var pid: Int32
    /// The start time of `pid` (field 22 of /proc/PID/stat, clock ticks since boot): who enters the app
    /// by its PID checks it, so that a PID reused after the app's exit is never taken for the app's.
    public var pidStartTime: UInt64?
    public var startedAt: String

    public init(pid: Int32, pidStartTime: UInt64?, startedAt: String) {
      self.pid = pid
      self.pidStartTime = pidStartTime
      self.startedAt = startedAt
    }
  }

  public struct Exited: Sendable, Equatable {
    /// Nil when the app's start was never recorded (its exit reached a stage1 that had no record of it).
    public var startedAt: String?
    public var finishedAt: String
    /// The exit status; for a signal, 128 + the signal number (as a shell reports it).
    public var exitCode: Int32
    public var signal: Int32?
    public var reason: Reason
    public var message: String?

    public init(startedAt: String?, finishedAt: String, exitCode: Int32, signal: Int32? = nil, reason: Reason, message: String? = nil) {
      self.startedAt = startedAt
      self.finishedAt = finishedAt
      self.exitCode = exitCode
      self.signal = signal
      self.reason = reason
      self.message = message
    }
  }

  public var phase: Phase {
    switch self {
    case .created: .created
    case .running: .running
    case .exited: .exited
    }
  }

  public var isRunning: Bool { phase == .running }
  /// The running app's PID (nil in any other phase).
  public var pid: Int32? { if case .running(let r) = self { r.pid } else { nil } }
  public var startedAt: String? {
    switch self {
    case .created: nil
    case .running(let r): r.startedAt
    case .exited(let e): e.startedAt
    }
  }
  public var exited: Exited? { if case .exited(let e) = self { e } else { nil } }

  public var json: JSON {
    switch self {
    case .created:
      return .obj([("phase", .string(Phase.created.rawValue))])
    case .running(let r):
      return .obj([
        ("phase", .string(Phase.running.rawValue)), ("pid", .int(r.pid)), ("pidStartTime", .int(r.pidStartTime)),
        ("startedAt", .string(r.startedAt)),
      ])
    case .exited(let e):
      return .obj([
        ("phase", .string(Phase.exited.rawValue)), ("startedAt", .str(e.startedAt)), ("finishedAt", .string(e.finishedAt)),
        ("exitCode", .int(e.exitCode)), ("signal", .int(e.signal)), ("reason", .string(e.reason.rawValue)), ("message", .str(e.message)),
      ])
    }
  }

  /// Reads the file's flat form. Each phase requires the fields it always has; an exited state without
  /// a reason this build knows (a later build's, or none) reads as Completed or Error by its exit code.
  public init(json j: JSON) throws(LiftoffError) {
    let ctx = "app state"
    let p = try j.string("phase", in: ctx)
    guard let phase = Phase(rawValue: p) else { throw .invalidArgument("\(ctx): unknown phase \(p)") }
    func int32(_ key: String) throws(LiftoffError) -> Int32? {
      guard let v = try j.optInt64(key, in: ctx) else { return nil }
      guard let x = Int32(exactly: v) else { throw .invalidArgument("\(ctx): \(key) \(v) is out of range") }
      return x
    }
    switch phase {
    case .created:
      self = .created
    case .running:
      guard let pid = try int32("pid"), pid > 0 else { throw .invalidArgument("\(ctx): a running app needs a pid") }
      self = .running(
        Running(
          pid: pid, pidStartTime: try j.optInt64("pidStartTime", in: ctx).flatMap { UInt64(exactly: $0) },
          startedAt: try j.optString("startedAt", in: ctx) ?? ""))
    case .exited:
      guard let code = try int32("exitCode") else { throw .invalidArgument("\(ctx): an exited app needs an exitCode") }
      let reason = try j.optString("reason", in: ctx).flatMap { Reason(rawValue: $0) }
      self = .exited(
        Exited(
          startedAt: try j.optString("startedAt", in: ctx), finishedAt: try j.optString("finishedAt", in: ctx) ?? "",
          exitCode: code, signal: try int32("signal"), reason: reason ?? (code == 0 ? .completed : .error),
          message: try j.optString("message", in: ctx)))
    }
  }
}
