// One run of an OCI hook (LiftoffCore/AppHook.swift): Subprocess.run (posix_spawn from C, never a Swift
// fork), its stdin a memfd holding the container's state, stdout and stderr one pipe whose last bytes
// are kept for the error message, its own process group, no descriptor of the caller. Watched through
// a pidfd; at the deadline the whole process group is killed and the run counts as failed. A background
// process the hook left holding its output is not waited for.
import LiftoffCore

public enum HookProcess {
  public struct Outcome: Sendable {
    /// nil when it never ran (`spawnError`) or was killed at its deadline (`timedOut`).
    public var termination: ProcessControl.Termination?
    public var timedOut = false
    /// errno of a failed spawn or exec (ENOENT: no such executable).
    public var spawnError: Int32?
    /// The last bytes it wrote to stdout and stderr.
    public var output: String = ""

    public var succeeded: Bool { termination == .exited(0) }

    /// `exited with status 1: <output>`, `was killed after its timeout of 5 s`, `could not be started: …`.
    public func describe(timeoutSeconds: Int) -> String {
      var s: String
      if let e = spawnError {
        s = "could not be started: \(errnoDescription(e))"
      } else if timedOut {
        s = "was killed after its timeout of \(timeoutSeconds) s"
      } else if case .signaled(let sig)? = termination {
        s = "was killed by signal \(sig)"
      } else {
        s = "exited with status \(termination?.shellStatus ?? -1)"
      }
      let out = output.trimmingCharacters(in: " \n\t")
      if !out.isEmpty { s += ": \(out)" }
      return s
    }
  }

  /// How much of its output is kept (the end).
  static let outputLimit = 2048

  /// Runs `argv` (executable `path`, not searched in PATH) with exactly `env`, `stdin` written to it,
  /// in `cwd` (nil: the caller's), for at most `timeoutSeconds`. For single- or multi-threaded callers.
  public static func run(path: String, argv: [String], env: [String], stdin: [UInt8], cwd: String?, timeoutSeconds: Int) -> Outcome {
    var spec = Subprocess(executable: path, argv: argv, env: env)
    spec.cwd = cwd
    spec.stdin = .bytes(stdin)
    spec.stdout = .captureTail(limit: outputLimit)
    spec.stderr = .stdout
    spec.ownProcessGroup = true
    spec.readOutputToTheEnd = false
    var outcome = Outcome()
    do {
      let result = try spec.run(timeout: Double(max(timeoutSeconds, 1)))
      outcome.timedOut = result.timedOut
      outcome.termination = result.timedOut ? nil : result.termination
      outcome.output = String(decoding: result.stdout, as: UTF8.self)
    } catch {
      outcome.spawnError = error.errno
    }
    return outcome
  }
}
