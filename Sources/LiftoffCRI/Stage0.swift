// How liftoff-cri changes pods: by running `liftoff` (stage0), the way rktlet drove rkt. liftoff-cri
// never becomes a pod's parent: `liftoff app sandbox` double-forks stage1 away. Reads do not come
// here; they go to the on-disk state through LiftoffPod. Each change is one typed Stage0Request
// (LiftoffPod/Stage0Request.swift), sent as JSON on `liftoff VERB --spec-file -`'s stdin (nothing of it
// on a command line, where every local user reads /proc/PID/cmdline), answered by one JSON document
// whose error code becomes the gRPC status 1:1 (RPCError+Liftoff). `liftoff` reports each CNI plugin's
// duration on its stderr (CNIPluginRun.swift); those lines become metrics. The answer is taken when
// `liftoff` closes its output, before its exit; the `liftoff` that takes a request was started ahead,
// after the previous one answered (SpareProcess): still one process per change.
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
  /// A `liftoff request --spec-file -` started ahead (CRIRuntime keeps one), which takes the request
  /// instead of a `liftoff` started for it.
  var spare: SpareProcess?

  /// How `liftoff` is run: `argv` after the executable's path.
  static func process(_ liftoff: String, _ argv: [String]) -> Subprocess {
    var child = Subprocess(
      executable: liftoff,
      argv: [liftoff] + argv,
      env: ProcessInfo.processInfo.environment.merging([CNIPluginRun.environmentVariable: "stderr"]) { $1 }
        .map { "\($0.key)=\($0.value)" })
    child.stdout = .capture(limit: Self.outputLimit)
    child.stderr = .capture(limit: Self.outputLimit)
    child.timeoutSignal = SIGTERM
    // liftoff closes both once its answer is written (Stage0Command.runSpecFile).
    child.answerAtEndOfOutput = true
    return child
  }

  /// The spare for a liftoff-cri whose `liftoff` is at `liftoff`.
  static func spare(_ liftoff: String) -> SpareProcess {
    SpareProcess(process(liftoff, ["request", "--spec-file", "-"]))
  }

  /// Runs the request, with its settings, on the stdin of the spare `liftoff request --spec-file -` (or,
  /// without a spare, of a `liftoff VERB --spec-file -` started for it); returns the answer's
  /// result, or throws the LiftoffError liftoff answered (its code kept). A `liftoff` that answers no
  /// JSON (it crashed, or was killed at `timeout`) is an internal error carrying its stderr.
  @discardableResult
  func run(_ request: Stage0Request, timeout: Double = 120) async throws -> JSON {
    let input = Array(request.json(settings: settings).serialized().utf8)
    let result: Subprocess.Result
    do {
      if let spare {
        result = try await spare.run(input: input, timeout: timeout)
      } else {
        var child = Self.process(liftoff, request.verb.split(separator: " ").map(String.init) + ["--spec-file", "-"])
        child.stdin = .bytes(input)
        result = try await child.run(timeout: timeout)
      }
    } catch {
      throw LiftoffError.internal("cannot run \(liftoff): \(error)")
    }
    // The plugin timings out of stderr first: what is left is liftoff's own output.
    let (runs, rest) = CNIPluginRun.split(String(decoding: result.stderr, as: UTF8.self))
    if let metrics { for run in runs { metrics.observeCNIPlugin(run) } }
    let answer: Stage0Answer
    do { answer = try Stage0Answer(json: try JSON.parse(bytes: Array(result.stdout))) } catch {
      let stderr = rest.trimmingCharacters(in: .whitespacesAndNewlines)
      throw LiftoffError.internal(
        "liftoff \(request.verb) \(result.termination == nil ? "closed its output" : "exited with \(result.status)") without an answer (\(error))\(stderr.isEmpty ? "" : ": \(stderr)")")
    }
    return try answer.result()
  }
}
