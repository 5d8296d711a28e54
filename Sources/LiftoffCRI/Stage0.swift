// How liftoff-cri changes pods: by running `liftoff` (stage0), the way rktlet drove rkt. liftoff-cri
// never becomes a pod's parent: `liftoff app sandbox` double-forks stage1 away. Reads do not come
// here; they go to the on-disk state through LiftoffPod. `liftoff` reports each CNI plugin's duration on
// its stderr (CNIPluginRun.swift); those lines become metrics and are not part of an error message.
import Foundation
import LiftoffCore
import LiftoffImage
import LiftoffNet

struct Stage0: Sendable {
  let liftoff: String
  let dir: String
  /// Global flags every invocation gets (the CRI service's CNI and registry settings).
  var globals: [String] = []
  /// Where the CNI plugin timings `liftoff` reports on its stderr go (CNIPluginRun.swift).
  var metrics: PrometheusMetrics?

  /// Runs `liftoff --dir <dir> ARGS…` and returns its stdout. A failure becomes a LiftoffError carrying
  /// liftoff's own one-line message (exit 2: invalid argument).
  /// `stdin`: what `liftoff` reads on its standard input (a container's environment for `--set-env-file -`).
  func run(_ arguments: [String], stdin: [UInt8] = [], timeout: Double = 120) async throws -> String {
    var child = ChildProcess(
      executable: liftoff, argv: [liftoff, "--dir", dir] + globals + arguments,
      env: ProcessInfo.processInfo.environment.merging([CNIPluginRun.environmentVariable: "stderr"]) { $1 }
        .map { "\($0.key)=\($0.value)" }, timeoutSignal: SIGTERM)
    child.stdin = stdin
    let result: ChildProcess.Result
    do { result = try await child.run(timeout: timeout) } catch {
      throw LiftoffError.internal("cannot run \(liftoff): \(error)")
    }
    let output = String(decoding: result.stdout, as: UTF8.self)
    // The plugin timings out of stderr first: what is left is liftoff's own message.
    let (runs, rest) = CNIPluginRun.split(String(decoding: result.stderr, as: UTF8.self))
    if let metrics { for run in runs { metrics.observeCNIPlugin(run) } }
    let errorText = rest.trimmingCharacters(in: .whitespacesAndNewlines)
    guard result.status == 0 else {
      let message = errorText.isEmpty ? "liftoff \(arguments.first ?? "") exited with \(result.status)" : errorText
      let cleaned = message.hasPrefix("liftoff: ") ? String(message.dropFirst(9)) : message
      throw LiftoffError(result.status == 2 ? .invalidArgument : .internal, cleaned)
    }
    return output
  }
}
