// A process started from a single- or multi-threaded program (liftoff-cri, liftoff, stage1's hooks):
// every spawn outside stage1's namespace forks goes through here and through one C function,
// liftoff_spawn (CLinux/spawn_stdio.c): posix_spawn, so no Swift code runs between fork and exec; signals
// unblocked and at their defaults; every descriptor but stdio and `extraFDs` closed in the child
// (posix_spawn_file_actions_addclosefrom_np), so no descriptor of the caller, CLOEXEC or not, reaches
// it.
//
//   caller ── liftoff_spawn ──▶ child (own process group, or a new session on a tty, when asked)
//     stdin   .bytes: a memfd holding them (no writer has to keep pace, no SIGPIPE) · .pipe · .fd · /dev/null
//     stdout  .capture(limit)/.captureTail(limit): a pipe read by run() · .pipe · .fd · /dev/null
//     stderr  the same, or .stdout (2>&1)
//
// `spawn()` starts it and hands over this side's pipe ends (HostProcess, HookProcess); `run(timeout:)`
// waits for it on the calling thread with poll() over both output pipes and a pidfd, so the answer
// comes the moment it is gone, and `run(...) async` does the same on a thread of its own.
//
// On timeout `timeoutSignal` goes to the child — to its whole process group when it leads one and
// there is no `leaderGrace`. With a `leaderGrace` it goes to the rest of the group first: the leader
// (liftoff's enter half for ExecSync) is the parent of the command it started in a container, and must
// live to reap it — killed together, the command would be left a zombie in the container, handed to
// the host's init (outside the container's PID namespace) until that got round to it. The leader then
// exits by itself, or gets SIGKILL after the grace.
//
// stage1 does not start its apps here: it forks with clone flags (CLONE_NEWPID, …) and then runs Swift
// in the child to build the app's rootfs, credentials, capabilities and seccomp before execve — which
// posix_spawn cannot express, and which is safe only because stage1 is single-threaded
// (ProcessControl.fork, liftoff-stage1/AppLauncher.swift).
import CLinux
import Glibc
import LiftoffCore

public struct Subprocess: Sendable {
  public enum Input: Sendable {
    /// /dev/null.
    case null
    /// This process's own fd 0.
    case inherit
    /// These bytes, from a memfd read to its end.
    case bytes([UInt8])
    /// A pipe; `spawn()` returns its write end.
    case pipe
    /// This descriptor (dup2'ed: it may be CLOEXEC here); the caller keeps and closes it.
    case fd(Int32)
  }

  public enum Output: Sendable {
    /// /dev/null.
    case null
    /// This process's own fd 1 or 2.
    case inherit
    /// A pipe whose first `limit` bytes `run` keeps (the rest is read and dropped); `spawn()` returns
    /// its read end.
    case capture(limit: Int)
    /// A pipe whose last `limit` bytes `run` keeps (a hook's error message is at its end).
    case captureTail(limit: Int)
    /// stderr only: where stdout goes (2>&1), which must then be a pipe, a capture, a descriptor or
    /// /dev/null.
    case stdout
    /// A pipe; `spawn()` returns its read end (`run` keeps all of it).
    case pipe
    /// This descriptor (dup2'ed: it may be CLOEXEC here); the caller keeps and closes it.
    case fd(Int32)
  }

  /// How a child ended; `status` as a shell reports it.
  public struct Result: Sendable {
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// nil when it was reaped elsewhere (ECHILD) and its end is unknown.
    public var termination: ProcessControl.Termination?
    /// The deadline passed and the child (or its group) was signalled.
    public var timedOut: Bool
    /// The exit status, or 128 + the signal that ended it; -1 when unknown.
    public var status: Int32 { termination?.shellStatus ?? -1 }
  }

  /// A started child and this side's ends of the pipes asked for (the caller closes them and reaps
  /// the child).
  public struct Child: Sendable {
    public let pid: pid_t
    public let stdin: Int32?
    public let stdout: Int32?
    public let stderr: Int32?
  }

  /// The executable (not searched in PATH), its argv (argv[0] included) and its whole environment.
  public var executable: String
  public var argv: [String]
  public var env: [String]
  public var cwd: String?
  public var stdin: Input = .null
  public var stdout: Output = .null
  public var stderr: Output = .null
  /// Leads a process group of its own, so that the whole group can be signalled.
  public var ownProcessGroup = false
  /// A new session whose controlling terminal is this pty slave (/dev/pts/N), opened as fds 0-2;
  /// `stdin`, `stdout`, `stderr` and `ownProcessGroup` are then ignored.
  public var controllingTerminal: String?
  /// These become the child's fds 3, 4, … (the caller keeps and closes its own).
  public var extraFDs: [Int32] = []

  // What `run` does at the deadline and after the exit.
  /// Sent at the deadline.
  public var timeoutSignal: Int32 = SIGKILL
  /// In its own process group: nil sends `timeoutSignal` to the whole group at once; a value sends it
  /// to the others first and gives the leader this many seconds to reap them and exit before SIGKILL.
  public var leaderGrace: Double?
  /// In its own process group: SIGKILL to what is left of the group once the leader has exited (so that
  /// what it left running cannot hold the pipes open).
  public var killGroupOnExit = false
  /// Once the child has exited, `run` reads its pipes to their ends (true), or takes only what is in
  /// them already and returns (false: a background process it left holding them is not waited for).
  public var readOutputToTheEnd = true
  /// `run(timeout:) async` returns once both output pipes are closed with something on stdout (the
  /// child's whole answer: liftoff's `--spec-file` closes them when it has written it), without waiting
  /// for the exit; its thread then reaps the child (still signalled at the deadline), and the result
  /// carries no termination. A child that closes them with stdout empty is waited for as usual.
  public var answerAtEndOfOutput = false

  public init(executable: String, argv: [String], env: [String]) {
    self.executable = executable
    self.argv = argv
    self.env = env
  }

  // MARK: spawning

  /// Starts the child. Throws SystemCallError("posix_spawn", errno, path) when it cannot be started
  /// (the errno of the failed exec: ENOENT, EACCES, …), or the call that failed before.
  public func spawn() throws(SystemCallError) -> Child {
    var owned: [Int32] = []  // closed on return: the child's ends and the memfd
    defer { for fd in owned { close(fd) } }
    var ours: [Int32] = []  // closed only on failure
    var attr = liftoff_spawn_attr()
    var parentIn: Int32?
    switch stdin {
    case .null: attr.stdin_fd = LIFTOFF_SPAWN_NULL
    case .inherit: attr.stdin_fd = LIFTOFF_SPAWN_INHERIT
    case .fd(let fd): attr.stdin_fd = fd
    case .bytes(let bytes):
      if bytes.isEmpty {
        attr.stdin_fd = LIFTOFF_SPAWN_NULL
      } else {
        let fd = liftoff_memfd_with(bytes, bytes.count)
        guard fd >= 0 else { throw SystemCallError("memfd_create", errno: errno) }
        owned.append(fd)
        attr.stdin_fd = fd
      }
    case .pipe:
      let p = try ProcessControl.pipe()
      owned.append(p.read)
      ours.append(p.write)
      attr.stdin_fd = p.read
      parentIn = p.write
    }
    func output(_ o: Output) throws(SystemCallError) -> (child: Int32, parent: Int32?) {
      switch o {
      case .null: return (LIFTOFF_SPAWN_NULL, nil)
      case .inherit: return (LIFTOFF_SPAWN_INHERIT, nil)
      case .fd(let fd): return (fd, nil)
      case .stdout: preconditionFailure("Subprocess: .stdout is for stderr only")
      case .pipe, .capture, .captureTail:
        let p: (read: Int32, write: Int32)
        do { p = try ProcessControl.pipe() } catch {
          for fd in ours { close(fd) }
          throw error
        }
        owned.append(p.write)
        ours.append(p.read)
        return (p.write, p.read)
      }
    }
    let out = try output(stdout)
    let err: (child: Int32, parent: Int32?)
    if case .stdout = stderr {
      precondition(out.child != LIFTOFF_SPAWN_INHERIT, "Subprocess: stderr .stdout with stdout .inherit")
      err = (out.child, nil)
    } else {
      err = try output(stderr)
    }
    attr.stdout_fd = out.child
    attr.stderr_fd = err.child
    attr.process_group = ownProcessGroup ? 1 : 0
    var pid: pid_t = 0
    let rc = ProcessControl.withCStrings(argv) { a in
      ProcessControl.withCStrings(env) { e in
        withOptionalCString(controllingTerminal) { tty in
          withOptionalCString(cwd) { dir in
            extraFDs.withUnsafeBufferPointer { extra in
              attr.tty_path = tty
              attr.cwd = dir
              attr.extra_fds = extra.baseAddress
              attr.extra_count = Int32(extra.count)
              return liftoff_spawn(&pid, executable, a, e, &attr)
            }
          }
        }
      }
    }
    guard rc == 0 else {
      for fd in ours { close(fd) }
      throw SystemCallError("posix_spawn", errno: rc, path: executable)
    }
    return Child(pid: pid, stdin: parentIn, stdout: out.parent, stderr: err.parent)
  }

  // MARK: running to the end

  /// Runs the child to its end on the calling thread; `timeout` in seconds, 0 for none. Output asked
  /// as `.capture`/`.pipe` is collected; `stdin` must not be `.pipe` (nothing would write it).
  public func run(timeout: Double = 0) throws(SystemCallError) -> Result { try run(timeout: timeout, answered: nil) }

  /// `run(timeout:)`, calling `answered` with what the pipes held as soon as both are closed with
  /// something on stdout while the child is still there (answerAtEndOfOutput); it then runs on until the
  /// child is reaped.
  func run(timeout: Double, answered: ((Result) -> Void)?) throws(SystemCallError) -> Result {
    var spec = self
    if case .pipe = stdin { spec.stdin = .null }
    return try spec.wait(for: try spec.spawn(), timeout: timeout, answered: answered)
  }

  /// The rest of `run`, for a child this spec started (its stdin end, if any, closed by the caller).
  func wait(for child: Child, timeout: Double, answered: ((Result) -> Void)?) throws(SystemCallError) -> Result {
    var answered = answered
    let pid = child.pid
    let inGroup = ownProcessGroup && controllingTerminal == nil
    let target = inGroup ? -pid : pid
    let pidfd = liftoff_pidfd_open(pid)
    defer { if pidfd >= 0 { close(pidfd) } }
    func limit(_ o: Output) -> (Int, tail: Bool) {
      switch o {
      case .capture(let n): (n, false)
      case .captureTail(let n): (n, true)
      default: (Int.max, false)
      }
    }
    var streams: [(fd: Int32, data: [UInt8], limit: Int, tail: Bool)] = [
      (child.stdout ?? -1, [], limit(stdout).0, limit(stdout).tail), (child.stderr ?? -1, [], limit(stderr).0, limit(stderr).tail),
    ]
    defer { for s in streams where s.fd >= 0 { close(s.fd) } }
    let deadline = timeout > 0 ? Clock.monotonic() + timeout : Double.infinity
    var termination: ProcessControl.Termination??  // .some(nil): reaped elsewhere
    var timedOut = false
    var leaderDeadline = Double.infinity
    var buffer = [UInt8](repeating: 0, count: 65536)
    // Until the child is gone and both pipes are closed — or, past the deadline or without
    // `readOutputToTheEnd`, only until it is gone (and then what the pipes hold already).
    var drained = false
    while termination == nil || (streams.contains(where: { $0.fd >= 0 }) && !timedOut && !drained) {
      if termination == nil {
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, WNOHANG)
        if r == pid || (r < 0 && errno == ECHILD) {  // ECHILD: reaped elsewhere, status unknown
          termination = .some(r < 0 ? nil : ProcessControl.decode(raw))
          if inGroup && killGroupOnExit { kill(-pid, SIGKILL) }
          continue
        }
      }
      var fds = streams.filter { $0.fd >= 0 }.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
      if termination == nil && pidfd >= 0 { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
      let now = Clock.monotonic()
      let left = deadline - now
      if left <= 0 && !timedOut {
        timedOut = true
        if inGroup, let grace = leaderGrace {
          for member in ProcessControl.processGroupMembers(pid) where member != pid { kill(member, timeoutSignal) }
          leaderDeadline = now + grace
        } else {
          kill(target, timeoutSignal)
        }
      }
      if termination == nil && now >= leaderDeadline {
        kill(target, SIGKILL)
        leaderDeadline = .infinity
      }
      var wait: Int32
      if timedOut {
        wait = leaderDeadline.isInfinite || termination != nil ? -1 : Int32((leaderDeadline - now) * 1000 + 1)
      } else {
        wait = left.isInfinite ? -1 : Int32(min(left * 1000 + 1, 60_000))
      }
      if termination == nil && pidfd < 0 { wait = wait < 0 ? 10 : min(wait, 10) }  // no pidfd: look every 10 ms
      if termination != nil && !readOutputToTheEnd {
        // One look, one read per pipe (64 KiB: what a pipe holds by default).
        wait = 0
        drained = true
      }
      let ready = poll(&fds, nfds_t(fds.count), wait)
      if ready < 0 && errno != EINTR {
        let e = errno
        kill(target, SIGKILL)
        if termination == nil { ProcessControl.reap(pid) }
        throw SystemCallError("poll", errno: e, path: executable)
      }
      for i in streams.indices where streams[i].fd >= 0 {
        guard let p = fds.first(where: { $0.fd == streams[i].fd }), p.revents != 0 else { continue }
        let n = buffer.withUnsafeMutableBytes { read(streams[i].fd, $0.baseAddress, $0.count) }
        if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
        if n <= 0 {
          close(streams[i].fd)
          streams[i].fd = -1
        } else if streams[i].tail {
          streams[i].data.append(contentsOf: buffer[0..<n])
          if streams[i].data.count > streams[i].limit { streams[i].data.removeFirst(streams[i].data.count - streams[i].limit) }
        } else if streams[i].data.count < streams[i].limit {
          streams[i].data.append(contentsOf: buffer[0..<min(n, streams[i].limit - streams[i].data.count)])
        }
      }
      if let a = answered, termination == nil, streams.allSatisfy({ $0.fd < 0 }), !streams[0].data.isEmpty {
        answered = nil
        a(Result(stdout: streams[0].data, stderr: streams[1].data, termination: nil, timedOut: timedOut))
      }
    }
    return Result(stdout: streams[0].data, stderr: streams[1].data, termination: termination ?? nil, timedOut: timedOut)
  }

  /// `run(timeout:)` on a thread of its own, off the Swift concurrency pool.
  public func run(timeout: Double = 0) async throws(SystemCallError) -> Result {
    guard answerAtEndOfOutput else {
      return try await runOnThread { () throws(SystemCallError) -> Result in try self.run(timeout: timeout) }
    }
    return try await answeredOnThread { (answered) throws(SystemCallError) -> Result in
      try self.run(timeout: timeout, answered: answered)
    }
  }

  /// Runs `body` on a thread of its own and returns the result it passes to `answered`, if it does, or
  /// else the one it returns; the thread goes on with `body` after an early answer.
  func answeredOnThread(
    _ body: @escaping @Sendable (_ answered: @escaping (Result) -> Void) throws(SystemCallError) -> Result
  ) async throws(SystemCallError) -> Result {
    let outcome: Swift.Result<Result, SystemCallError> = await withCheckedContinuation { c in
      startThread {
        var resumed = false
        let end = Swift.Result { () throws(SystemCallError) -> Result in
          try body { early in
            resumed = true
            c.resume(returning: .success(early))
          }
        }
        if !resumed { c.resume(returning: end) }
      }
    }
    return try outcome.get()
  }
}

/// Calls body with the C string of `s`, or NULL.
func withOptionalCString<R>(_ s: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
  guard let s else { return body(nil) }
  return s.withCString { body($0) }
}
