// The runtime state of one app, `pods/<state>/<id>/apps/<name>/state.json`, written atomically by
// stage1 (temp name, fsync, rename) each time the app changes state. Read by stage0 and the CRI
// service straight from disk. The immutable app settings live in pod.json; only this file changes.

public struct AppState: Sendable, Equatable {
  public enum Phase: String, Sendable, CaseIterable { case created, running, exited }
  /// CRI reasons for an exited container.
  public enum Reason: String, Sendable, CaseIterable {
    case completed = "Completed", error = "Error", oomKilled = "OOMKilled", startFailed = "StartFailed"
  }

  public var phase: Phase
  public var pid: Int32?
  /// The start time of `pid` (field 22 of /proc/PID/stat, clock ticks since boot): who enters the app
  /// by its PID checks it, so that a PID reused after the app's exit is never taken for the app's.
  public var pidStartTime: UInt64?
  public var startedAt: String?
  public var finishedAt: String?
  /// The exit status; for a signal, 128 + the signal number (as a shell reports it).
  public var exitCode: Int32?
  public var signal: Int32?
  public var reason: Reason?
  public var message: String?

  public init(
    phase: Phase, pid: Int32? = nil, pidStartTime: UInt64? = nil, startedAt: String? = nil, finishedAt: String? = nil, exitCode: Int32? = nil,
    signal: Int32? = nil, reason: Reason? = nil, message: String? = nil
  ) {
    self.phase = phase
    self.pid = pid
    self.pidStartTime = pidStartTime
    self.startedAt = startedAt
    self.finishedAt = finishedAt
    self.exitCode = exitCode
    self.signal = signal
    self.reason = reason
    self.message = message
  }

  public var json: JSON {
    .obj([
      ("phase", .string(phase.rawValue)), ("pid", .int(pid)),
      ("pidStartTime", .int(pidStartTime)), ("startedAt", .str(startedAt)),
      ("finishedAt", .str(finishedAt)), ("exitCode", .int(exitCode)), ("signal", .int(signal)),
      ("reason", .str(reason?.rawValue)), ("message", .str(message)),
    ])
  }

  public init(json j: JSON) throws(LiftoffError) {
    let ctx = "app state"
    let p = try j.string("phase", in: ctx)
    guard let phase = Phase(rawValue: p) else { throw .invalidArgument("\(ctx): unknown phase \(p)") }
    self.phase = phase
    pid = try j.optInt64("pid", in: ctx).map { Int32(truncatingIfNeeded: $0) }
    pidStartTime = try j.optInt64("pidStartTime", in: ctx).flatMap { UInt64(exactly: $0) }
    startedAt = try j.optString("startedAt", in: ctx)
    finishedAt = try j.optString("finishedAt", in: ctx)
    exitCode = try j.optInt64("exitCode", in: ctx).map { Int32(truncatingIfNeeded: $0) }
    signal = try j.optInt64("signal", in: ctx).map { Int32(truncatingIfNeeded: $0) }
    reason = try j.optString("reason", in: ctx).flatMap { Reason(rawValue: $0) }
    message = try j.optString("message", in: ctx)
  }
}
