// A child started ahead of need: `run(input:)` hands its input to a process that is already past its
// exec and its runtime's start-up, blocked reading its stdin (a pipe), instead of starting one then.
// liftoff-cri runs a `liftoff` per pod change (Stage0.swift); the exec and start-up of that 80 MB
// static binary are ~0.5 ms of CPU before it reads its request. Each child still serves one request
// and exits: the spare was only started earlier. The next one starts when a call has its answer —
// started as a call began, it took CPU from that call on 2 cores (RunPodSandbox and StopContainer
// were slower) — and a call that comes while it is starting waits for it rather than start another.
//
//   run(input) ── spare ready (or starting: wait), executable unchanged ── input into its stdin, EOF
//              └─ none (taken by a concurrent call), or the binary replaced since ── start one now
//
// A spare whose executable was replaced on disk since it started (an upgrade) is killed unused. One
// that died while it waited (killed by someone) shows as EPIPE on the write: the input then goes to a
// child started now. Dropping the SpareProcess kills its spare.
import Glibc
import LiftoffCore
import Synchronization

public final class SpareProcess: Sendable {
  /// What each child runs; its `stdin` is replaced by a pipe.
  public let spec: Subprocess

  struct Spare: Sendable {
    var child: Subprocess.Child
    var executable: FileIdentity?
  }

  /// The executable's inode and modification time: a replaced binary changes one of them.
  struct FileIdentity: Equatable, Sendable {
    var device: UInt64, inode: UInt64, seconds: Int, nanoseconds: Int

    init?(_ path: String) {
      var st = stat()
      guard stat(path, &st) == 0 else { return nil }
      device = UInt64(st.st_dev)
      inode = UInt64(st.st_ino)
      seconds = st.st_mtim.tv_sec
      nanoseconds = st.st_mtim.tv_nsec
    }
  }

  private struct State: Sendable {
    var spare: Spare?
    var starting = false
    var closed = false
    /// A call waiting for the spare being started (it is further on than a child started for it).
    var waiter: CheckedContinuation<Spare?, Never>?
  }

  private let state = Mutex(State())

  public init(_ spec: Subprocess) {
    var s = spec
    s.stdin = .pipe
    self.spec = s
  }

  deinit { close() }

  /// Starts the first spare (on a thread of its own; `run` works without one).
  public func prepare() { startNext() }

  /// The ready spare's process ID, if one is ready.
  public var readyPID: Int32? { state.withLock { $0.spare?.child.pid } }

  /// Kills the spare and starts no more; `run` then starts a child for each call.
  public func close() {
    let spare = state.withLock { s -> Spare? in
      s.closed = true
      defer { s.spare = nil }
      return s.spare
    }
    if let spare { Self.discard(spare) }
  }

  /// `spec` run with `input` on its stdin (see `Subprocess.run(timeout:) async`): by the spare when one
  /// is ready, else by a child started now. `timeout` counts from here.
  public func run(input: [UInt8], timeout: Double) async throws(SystemCallError) -> Subprocess.Result {
    let taken = await withCheckedContinuation { (c: CheckedContinuation<Spare?, Never>) in
      let now = state.withLock { s -> Spare?? in
        if let spare = s.spare {
          s.spare = nil
          return .some(spare)
        }
        guard s.starting, s.waiter == nil else { return .some(nil) }
        s.waiter = c
        return nil
      }
      if let now { c.resume(returning: now) }
    }
    defer { startNext() }  // once this call has its answer
    let fresh = { () -> Subprocess in
      var f = self.spec
      f.stdin = .bytes(input)
      return f
    }()
    guard let taken else { return try await fresh.run(timeout: timeout) }
    guard taken.executable != nil, taken.executable == FileIdentity(spec.executable) else {
      Self.discard(taken)
      return try await fresh.run(timeout: timeout)
    }
    let spec = self.spec
    return try await spec.answeredOnThread { (answered) throws(SystemCallError) -> Subprocess.Result in
      // A write into a pipe whose reader is gone raises SIGPIPE at this thread: blocked here (the
      // thread is this call's alone and ends with it), the write fails with EPIPE instead.
      var pipeSignal = sigset_t()
      sigemptyset(&pipeSignal)
      sigaddset(&pipeSignal, SIGPIPE)
      pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
      let fd = taken.child.stdin ?? -1
      let written = Result { () throws(SystemCallError) in try FileSystem.writeAll(fd, input) }
      Glibc.close(fd)
      var child = taken.child
      child = Subprocess.Child(pid: child.pid, stdin: nil, stdout: child.stdout, stderr: child.stderr)
      guard case .success = written else {
        // It is gone (or going): reaped by the usual wait, its result dropped, the input run anew.
        _ = try? spec.wait(for: child, timeout: 1, answered: nil)
        return try fresh.run(timeout: timeout, answered: answered)
      }
      return try spec.wait(for: child, timeout: timeout, answered: answered)
    }
  }

  /// Starts the next spare on a thread of its own, unless one is there or being started.
  private func startNext() {
    let go = state.withLock { s -> Bool in
      guard !s.closed, s.spare == nil, !s.starting else { return false }
      s.starting = true
      return true
    }
    guard go else { return }
    let spec = self.spec
    startThread(stackSize: 256 << 10) { [weak self] in
      let identity = FileIdentity(spec.executable)
      let child = try? spec.spawn()
      guard let self else {
        if let child { Self.discard(Spare(child: child, executable: identity)) }
        return
      }
      let spare = child.map { Spare(child: $0, executable: identity) }
      let (unused, waiter) = self.state.withLock { s -> (Spare?, CheckedContinuation<Spare?, Never>?) in
        s.starting = false
        if let waiter = s.waiter {
          s.waiter = nil
          return (nil, waiter)
        }
        guard !s.closed, s.spare == nil else { return (spare, nil) }
        s.spare = spare
        return (nil, nil)
      }
      waiter?.resume(returning: spare)
      if let unused { Self.discard(unused) }
    }
  }

  /// Kills a spare that will not be used and reaps it (on a thread of its own).
  private static func discard(_ spare: Spare) {
    kill(spare.child.pid, SIGKILL)
    for fd in [spare.child.stdin, spare.child.stdout, spare.child.stderr].compactMap({ $0 }) { Glibc.close(fd) }
    startThread(stackSize: 64 << 10) { ProcessControl.reap(spare.child.pid) }
  }
}
