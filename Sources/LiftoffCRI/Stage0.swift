// How liftoff-cri changes pods: by running `liftoff` (stage0), the way rktlet drove rkt. liftoff-cri
// never becomes a pod's parent: `liftoff app sandbox` double-forks stage1 away. Reads do not come
// here; they go to the on-disk state through LiftoffPod. Each change is one typed Stage0Request
// (LiftoffPod/Stage0Request.swift), sent as JSON on `liftoff VERB --spec-file -`'s stdin (nothing of it
// on a command line, where every local user reads /proc/PID/cmdline), answered by one JSON document
// whose error code becomes the gRPC status 1:1 (RPCError+Liftoff). `liftoff` reports each CNI plugin's
// duration on its stderr (CNIPluginRun.swift); those lines become metrics.
import Foundation
import LiftoffCore
import LiftoffNet
import LiftoffOS
import LiftoffPod

struct Stage0: Sendable {
  let liftoff: String
  /// The node settings every request carries (the CRI service's data dir, CNI and trust settings).
  var settings = Stage0Settings()
  /// Where the CNI plugin timings `liftoff` reports on its stderr go (CNIPluginRun.swift).
  var metrics: PrometheusMetrics?
  /// Each stream keeps at most this much (as CRI-O's 16 MiB exec output limit).
  static let outputLimit = 16 << 20

  /// Runs `liftoff VERB --spec-file -` with the request and its settings on its stdin; returns the answer's
  /// result, or throws the LiftoffError liftoff answered (its code kept). A `liftoff` that answers no
  /// JSON (it crashed, or was killed at `timeout`) is an internal error carrying its stderr.
  @discardableResult
  func run(_ request: Stage0Request, timeout: Double = 120) async throws -> JSON {
    var child = Subprocess(
      executable: liftoff,
      argv: [liftoff] + request.verb.split(separator: " ").map(String.init) + ["--spec-file", "-"],
      env: ProcessInfo.processInfo.environment.merging([CNIPluginRun.environmentVariable: "stderr"]) { $1 }
        .map { "\($0.key)=\($0.value)" })
    child.stdin = .bytes(Array(request.json(settings: settings).serialized().utf8))
    child.stdout = .capture(limit: Self.outputLimit)
    child.stderr = .capture(limit: Self.outputLimit)
    child.timeoutSignal = SIGTERM
    let result: Subprocess.Result
    do { result = try await child.run(timeout: timeout) } catch {
      throw LiftoffError.internal("cannot run \(liftoff): \(error)")
    }
    // The plugin timings out of stderr first: what is left is liftoff's own output.
    let (runs, rest) = CNIPluginRun.split(String(decoding: result.stderr, as: UTF8.self))
    if let metrics { for run in runs { metrics.observeCNIPlugin(run) } }
    let answer: Stage0Answer
    do { answer = try Stage0Answer(json: try JSON.parse(bytes: Array(result.stdout))) } catch {
      let stderr = rest.trimmingCharacters(in: .whitespacesAndNewlines)
      throw LiftoffError.internal(
        "liftoff \(request.verb) exited with \(result.status) without an answer (\(error))\(stderr.isEmpty ? "" : ": \(stderr)")")
    }
    return try answer.result()
  }
}
