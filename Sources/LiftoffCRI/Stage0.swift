// How liftoff-cri changes pods: by running `liftoff` (stage0), the way rktlet drove rkt. liftoff-cri
// never becomes a pod's parent: `liftoff app sandbox` double-forks stage1 away. Reads do not come
// here; they go to the on-disk state through LiftoffPod.
import Foundation
import LiftoffCore
import LiftoffImage

struct Stage0: Sendable {
  let liftoff: String
  let dir: String
  /// Global flags every invocation gets (the CRI service's CNI and registry settings).
  var globals: [String] = []

  /// Runs `liftoff --dir <dir> ARGS…` and returns its stdout. A failure becomes a LiftoffError carrying
  /// liftoff's own one-line message (exit 2: invalid argument).
  /// `stdin`: what `liftoff` reads on its standard input (a container's environment for `--set-env-file -`).
  func run(_ arguments: [String], stdin: [UInt8] = [], timeout: Double = 120) async throws -> String {
    var child = ChildProcess(
      executable: liftoff, argv: [liftoff, "--dir", dir] + globals + arguments,
      env: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }, timeoutSignal: SIGTERM)
    child.stdin = stdin
    let result: ChildProcess.Result
    do { result = try await child.run(timeout: timeout) } catch {
      throw LiftoffError.internal("cannot run \(liftoff): \(error)")
    }
    let output = String(decoding: result.stdout, as: UTF8.self)
    let errorText = String(decoding: result.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    guard result.status == 0 else {
      let message = errorText.isEmpty ? "liftoff \(arguments.first ?? "") exited with \(result.status)" : errorText
      let cleaned = message.hasPrefix("liftoff: ") ? String(message.dropFirst(9)) : message
      throw LiftoffError(result.status == 2 ? .invalidArgument : .internal, cleaned)
    }
    return output
  }
}
