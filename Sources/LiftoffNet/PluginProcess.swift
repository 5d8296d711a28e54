// Runs one CNI plugin executable: the configuration on stdin, the result or error JSON on stdout, logs on
// stderr, with a deadline (CNI spec 1.1.0, section 2, "Execution Protocol").
//
//   liftoff (any thread) ── Subprocess (posix_spawn) ──▶ plugin (own process group)
//        stdin  ◀── memfd holding the configuration (no pipe, so no SIGPIPE if the plugin ignores it)
//        stdout ──▶ pipe, read with poll() until EOF and the plugin's exit, or the deadline
//        stderr ──▶ pipe, idem
//   at the deadline: SIGKILL to the plugin's process group, reap, throw deadlineExceeded.
import Foundation
import LiftoffCore
import LiftoffOS

struct PluginProcess {
  struct Output: Sendable {
    var exitStatus: Int32  // exit code, or 128 + signal number
    var stdout: Data
    var stderr: Data
  }

  /// Runs `path` with `environment` (complete, KEY=VALUE), `stdin` as its standard input; blocks
  /// the calling thread until it exits or `timeout` seconds pass.
  static func run(path: String, environment: [String], stdin: Data, timeout: Double) throws -> Output {
    var plugin = Subprocess(executable: path, argv: [path], env: environment)
    plugin.stdin = .bytes(Array(stdin))
    plugin.stdout = .pipe
    plugin.stderr = .pipe
    plugin.ownProcessGroup = true
    // Subprocess's 0 means no deadline; here it always had one.
    let result = try plugin.run(timeout: max(timeout, 0.000_001))
    if result.timedOut {
      throw LiftoffError(
        .deadlineExceeded, "cni plugin \(path) did not finish within \(formatSeconds(timeout)); killed")
    }
    return Output(exitStatus: result.status, stdout: Data(result.stdout), stderr: Data(result.stderr))
  }
}

func formatSeconds(_ s: Double) -> String {
  s == s.rounded() ? "\(Int(s))s" : "\(s)s"
}
