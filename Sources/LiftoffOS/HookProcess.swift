// One run of an OCI hook (LiftoffCore/AppHook.swift): spawned by Subprocess (posix_spawn from C, never
// a Swift fork), its stdin a pipe holding the container's state, stdout and stderr one pipe whose last bytes
// are kept for the error message, its own process group, no descriptor of the caller. Watched through
// a pidfd; at the deadline the whole process group is killed and the run counts as failed.
import CLinux
import Glibc
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
    var outcome = Outcome()
    let output: (read: Int32, write: Int32)
    do { output = try ProcessControl.pipe() } catch {
      outcome.spawnError = error.errno
      return outcome
    }
    var spec = Subprocess(executable: path, argv: argv, env: env)
    spec.cwd = cwd
    spec.stdin = .pipe
    spec.stdout = .fd(output.write)
    spec.stderr = .fd(output.write)
    spec.ownProcessGroup = true
    let child: Subprocess.Child
    do { child = try spec.spawn() } catch {
      close(output.read)
      close(output.write)
      outcome.spawnError = error.errno
      return outcome
    }
    close(output.write)
    let pid = child.pid
    var inputFD: Int32 = child.stdin!
    Terminal.setNonBlocking(inputFD)
    Terminal.setNonBlocking(output.read)
    var toWrite = stdin[...]
    if toWrite.isEmpty {
      close(inputFD)
      inputFD = -1
    }
    var outputFD: Int32 = output.read
    var kept: [UInt8] = []
    let pidfd = liftoff_pidfd_open(pid)
    let deadline = Clock.monotonic() + Double(timeoutSeconds)
    var buf = [UInt8](repeating: 0, count: 4096)
    func drain() {
      while outputFD >= 0 {
        let n = buf.withUnsafeMutableBytes { read(outputFD, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return }  // EAGAIN: nothing more now
        if n == 0 {
          close(outputFD)
          outputFD = -1
          return
        }
        kept.append(contentsOf: buf[0..<n])
        if kept.count > outputLimit { kept.removeFirst(kept.count - outputLimit) }
      }
    }
    while true {
      var status: Int32 = 0
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid, let t = ProcessControl.decode(status) {
        outcome.termination = t
        break
      }
      let now = Clock.monotonic()
      if now >= deadline {
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
        ProcessControl.reap(pid)
        outcome.timedOut = true
        break
      }
      var fds: [pollfd] = []
      if pidfd >= 0 { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
      if outputFD >= 0 { fds.append(pollfd(fd: outputFD, events: Int16(POLLIN), revents: 0)) }
      if inputFD >= 0 { fds.append(pollfd(fd: inputFD, events: Int16(POLLOUT), revents: 0)) }
      // Without a pidfd (an old kernel), look at the child every 20 ms.
      let wait = pidfd >= 0 ? (deadline - now) : min(deadline - now, 0.02)
      _ = poll(&fds, nfds_t(fds.count), Int32(min(wait, 3600) * 1000) + 1)
      drain()
      if inputFD >= 0 {
        let n = toWrite.withUnsafeBytes { write(inputFD, $0.baseAddress, $0.count) }
        if n > 0 { toWrite = toWrite.dropFirst(n) }
        // Written, or the hook closed its stdin (EPIPE; stage1 ignores SIGPIPE, a hook need not read).
        if toWrite.isEmpty || (n < 0 && errno != EAGAIN && errno != EINTR) {
          close(inputFD)
          inputFD = -1
        }
      }
    }
    // What it wrote before it exited (a background child still holding the pipe is not waited for).
    drain()
    for fd in [pidfd, inputFD, outputFD] where fd >= 0 { close(fd) }
    outcome.output = String(decoding: kept, as: UTF8.self)
    return outcome
  }
}
