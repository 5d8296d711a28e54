// A short-lived child of liftoff-cri — `liftoff` for every pod change (Stage0), `liftoff`'s enter half
// for ExecSync: spawned with posix_spawn (never fork in this multi-threaded server), stdin from
// /dev/null, every other descriptor closed, stdout and stderr collected up to a cap. One thread of
// its own waits for it with poll() over both pipes and a pidfd, so the answer comes the moment the
// child is gone. (Stage0 used Foundation's Process with a thread per pipe; replacing it, together with
// faster JSON in `liftoff`, took RunPodSandbox 32 → 25 ms and Create+Start 17 → 13 ms server-side.) On
// timeout `timeoutSignal` goes to the child or, in its own process group, to the rest of the group
// first: the leader (liftoff's enter half for ExecSync) is the parent of the command it started in a
// container, and must live to reap it — killed together, the command would be left a zombie in the
// container, handed to the host's init (its parent's reaper, outside the container's PID namespace)
// until that got round to it, and `pgrep` inside would still find it. The leader then exits by itself,
// or gets SIGKILL after `leaderGrace`.
import CLinux
import Foundation
import LiftoffCore
import LiftoffImage
import LiftoffOS

struct ChildProcess: Sendable {
  struct Result: Sendable {
    var stdout: Data
    var stderr: Data
    /// The exit status, or 128 + the signal that ended it (as a shell reports it).
    var status: Int32
    var timedOut: Bool
  }

  /// The executable, its argv (argv[0] included) and its whole environment.
  let executable: String
  let argv: [String]
  let env: [String]
  /// In a process group of its own, signalled as a whole on timeout and once the child has exited
  /// (so that what it left running cannot hold the pipes open).
  var ownProcessGroup = false
  var timeoutSignal: Int32 = SIGKILL
  /// Each stream keeps at most this much (as CRI-O's 16 MiB exec output limit).
  var outputCap = 16 << 20
  /// The child's standard input: these bytes (from a memfd, so that no writer has to keep pace with
  /// the child), or /dev/null when empty.
  var stdin: [UInt8] = []
  /// In its own process group, how long the leader has after a timeout killed the others to reap
  /// them and exit before it gets SIGKILL too.
  static let leaderGrace = 2.0

  /// Runs the child to its end; `timeout` in seconds, 0 for none.
  func run(timeout: Double) async throws -> Result {
    try await runOnThread { try self.runBlocking(timeout: timeout) }
  }

  private func spawn() throws -> (pid: pid_t, out: Int32, err: Int32) {
    let o = try ProcessControl.pipe()
    let e = try ProcessControl.pipe()
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    var input: Int32 = -1
    defer { if input >= 0 { close(input) } }
    if stdin.isEmpty {
      posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    } else {
      input = liftoff_memfd_with(stdin, stdin.count)
      guard input >= 0 else { throw SystemCallError("memfd_create", errno: errno) }
      posix_spawn_file_actions_adddup2(&actions, input, 0)
    }
    posix_spawn_file_actions_adddup2(&actions, o.write, 1)
    posix_spawn_file_actions_adddup2(&actions, e.write, 2)
    _ = liftoff_spawn_closefrom(&actions, 3)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
    if ownProcessGroup {
      flags |= POSIX_SPAWN_SETPGROUP
      posix_spawnattr_setpgroup(&attr, 0)
    }
    posix_spawnattr_setflags(&attr, Int16(flags))
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attr, &none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attr, &all)
    let cargs = argv.map { strdup($0) } + [nil]
    defer { for p in cargs { free(p) } }
    let cenv = env.map { strdup($0) } + [nil]
    defer { for p in cenv { free(p) } }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attr, cargs, cenv)
    close(o.write)
    close(e.write)
    guard rc == 0 else {
      close(o.read)
      close(e.read)
      throw LiftoffError.internal("cannot run \(executable): \(String(cString: strerror(rc)))")
    }
    return (pid, o.read, e.read)
  }

  private func runBlocking(timeout: Double) throws -> Result {
    let (pid, outFD, errFD) = try spawn()
    let target = ownProcessGroup ? -pid : pid
    let pidfd = liftoff_pidfd_open(pid)
    defer { if pidfd >= 0 { close(pidfd) } }
    let deadline = timeout > 0 ? Clock.monotonic() + timeout : Double.infinity
    var streams: [(fd: Int32, data: Data)] = [(outFD, Data()), (errFD, Data())]
    var status: Int32?
    var timedOut = false
    var leaderDeadline = Double.infinity
    var buffer = [UInt8](repeating: 0, count: 65536)
    // Until the child is gone and both pipes are closed — or, past the deadline, only until it is gone.
    while status == nil || (streams.contains(where: { $0.fd >= 0 }) && !timedOut) {
      if status == nil {
        var raw: Int32 = 0
        let r = waitpid(pid, &raw, WNOHANG)
        if r == pid || (r < 0 && errno == ECHILD) {  // ECHILD: reaped elsewhere, status unknown
          status = r < 0 ? -1 : raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f)
          // What the child left in its group must not keep the pipes open.
          if ownProcessGroup { kill(-pid, SIGKILL) }
          continue
        }
      }
      var fds = streams.filter { $0.fd >= 0 }.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
      if status == nil && pidfd >= 0 { fds.append(pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)) }
      let now = Clock.monotonic()
      let left = deadline - now
      if left <= 0 && !timedOut {
        timedOut = true
        if ownProcessGroup {
          for member in ProcessControl.processGroupMembers(pid) where member != pid { kill(member, timeoutSignal) }
          leaderDeadline = now + ChildProcess.leaderGrace
        } else {
          kill(pid, timeoutSignal)
        }
      }
      if status == nil && now >= leaderDeadline {
        kill(target, SIGKILL)
        leaderDeadline = .infinity
      }
      var wait: Int32
      if timedOut {
        wait = leaderDeadline.isInfinite || status != nil ? -1 : Int32((leaderDeadline - now) * 1000 + 1)
      } else {
        wait = left.isInfinite ? -1 : Int32(min(left * 1000 + 1, 60_000))
      }
      if status == nil && pidfd < 0 { wait = wait < 0 ? 10 : min(wait, 10) }  // no pidfd: look every 10 ms
      if poll(&fds, nfds_t(fds.count), wait) < 0 && errno != EINTR {
        let e = errno
        kill(target, SIGKILL)
        if status == nil { ProcessControl.reap(pid) }
        for s in streams where s.fd >= 0 { close(s.fd) }
        throw LiftoffError.internal("waiting for \(executable): poll: \(String(cString: strerror(e)))")
      }
      for i in streams.indices where streams[i].fd >= 0 {
        guard let p = fds.first(where: { $0.fd == streams[i].fd }), p.revents != 0 else { continue }
        let n = buffer.withUnsafeMutableBytes { read(streams[i].fd, $0.baseAddress, $0.count) }
        if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
        if n <= 0 {
          close(streams[i].fd)
          streams[i].fd = -1
        } else if streams[i].data.count < outputCap {
          streams[i].data.append(contentsOf: buffer[0..<min(n, outputCap - streams[i].data.count)])
        }
      }
    }
    for s in streams where s.fd >= 0 { close(s.fd) }
    return Result(stdout: streams[0].data, stderr: streams[1].data, status: status ?? -1, timedOut: timedOut)
  }
}
