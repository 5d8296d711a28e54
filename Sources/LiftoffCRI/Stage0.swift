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
  func run(_ arguments: [String], timeout: Double = 120) async throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: liftoff)
    process.arguments = ["--dir", dir] + globals + arguments
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = FileHandle.nullDevice
    let exited = AsyncStream<Int32>.makeStream()
    process.terminationHandler = { p in
      exited.continuation.yield(p.terminationStatus)
      exited.continuation.finish()
    }
    do {
      try process.run()
    } catch {
      throw LiftoffError.internal("cannot run \(liftoff): \(error.localizedDescription)")
    }
    // Blocking reads on threads of their own, never on the (2-thread) cooperative pool.
    async let out = (try? runOnThread { stdout.fileHandleForReading.readDataToEndOfFile() }) ?? Data()
    async let err = (try? runOnThread { stderr.fileHandleForReading.readDataToEndOfFile() }) ?? Data()
    let watchdog = Task {
      try await Task.sleep(for: .seconds(timeout))
      process.terminate()
    }
    var status: Int32 = -1
    for await s in exited.stream { status = s }
    watchdog.cancel()
    let output = String(decoding: await out, as: UTF8.self)
    let errorText = String(decoding: await err, as: UTF8.self)
      .trimmingCharacters(in: .whitespacesAndNewlines)
    guard status == 0 else {
      let message = errorText.isEmpty ? "liftoff \(arguments.first ?? "") exited with \(status)" : errorText
      let cleaned = message.hasPrefix("liftoff: ") ? String(message.dropFirst(9)) : message
      throw LiftoffError(status == 2 ? .invalidArgument : .internal, cleaned)
    }
    return output
  }
}
