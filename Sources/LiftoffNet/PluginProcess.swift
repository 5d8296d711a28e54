// Runs one CNI plugin executable: the configuration on stdin, the result or error JSON on stdout, logs on
// stderr, with a deadline (CNI spec 1.1.0, section 2, "Execution Protocol").
//
//   liftoff (any thread) ── posix_spawn ──▶ plugin (own process group)
//        stdin  ◀── memfd holding the configuration (no pipe, so no SIGPIPE if the plugin ignores it)
//        stdout ──▶ pipe, read with poll() until EOF or the deadline
//        stderr ──▶ pipe, idem
//   at the deadline: SIGKILL to the plugin's process group, reap, throw deadlineExceeded.
//
// posix_spawn (vfork + exec inside glibc) is safe from a multi-threaded process, unlike fork(); no
// Swift code runs in the child. Every descriptor above 2 is closed in the child.
import Foundation
import CLinux
import Glibc
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
    // stdin: an anonymous memory file the plugin reads to EOF.
    let inFD = liftoff_net_memfd_cloexec("liftoff-cni-stdin")
    guard inFD >= 0 else { throw SystemCallError("memfd_create", errno: errno) }
    defer { close(inFD) }
    try writeAll(inFD, stdin)
    guard lseek(inFD, 0, SEEK_SET) == 0 else { throw SystemCallError("lseek", errno: errno) }

    var outPipe: [Int32] = [-1, -1]
    var errPipe: [Int32] = [-1, -1]
    guard liftoff_pipe_cloexec(&outPipe) == 0 else { throw SystemCallError("pipe2", errno: errno) }
    guard liftoff_pipe_cloexec(&errPipe) == 0 else {
      let e = errno
      close(outPipe[0]); close(outPipe[1])
      throw SystemCallError("pipe2", errno: e)
    }
    var readEnds: [Int32] = [outPipe[0], errPipe[0]]
    defer { for fd in readEnds where fd >= 0 { close(fd) } }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, inFD, 0)
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    liftoff_net_spawn_addclosefrom(&actions, 3)

    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var noSignals = sigset_t()
    sigemptyset(&noSignals)
    posix_spawnattr_setsigmask(&attr, &noSignals)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    sigaddset(&defaults, SIGINT)
    sigaddset(&defaults, SIGTERM)
    posix_spawnattr_setsigdefault(&attr, &defaults)
    posix_spawnattr_setpgroup(&attr, 0)
    posix_spawnattr_setflags(
      &attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

    let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), nil]
    let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
    defer {
      for p in argv { free(p) }
      for p in envp { free(p) }
    }
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, path, &actions, &attr, argv, envp)
    close(outPipe[1])
    close(errPipe[1])
    guard rc == 0 else { throw SystemCallError("posix_spawn", errno: rc, path: path) }

    let deadline = Clock.monotonic() + timeout
    var out = Data()
    var err = Data()
    var timedOut = false
    var buffer = [UInt8](repeating: 0, count: 65536)
    while readEnds.contains(where: { $0 >= 0 }) {
      let left = deadline - Clock.monotonic()
      if left <= 0 { timedOut = true; break }
      var fds = readEnds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
      let n = poll(&fds, nfds_t(fds.count), Int32(min(left * 1000, 1_000_000)) + 1)
      if n < 0 {
        if errno == EINTR { continue }
        let e = errno
        kill(-pid, SIGKILL)
        _ = reap(pid)
        throw SystemCallError("poll", errno: e)
      }
      for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
        let got = buffer.withUnsafeMutableBytes { read(fds[i].fd, $0.baseAddress, $0.count) }
        if got > 0 {
          if i == 0 { out.append(contentsOf: buffer[0..<got]) } else { err.append(contentsOf: buffer[0..<got]) }
        } else if got == 0 || (errno != EINTR && errno != EAGAIN) {
          close(readEnds[i])
          readEnds[i] = -1
        }
      }
    }
    // Output closed: the plugin has exited or is about to (a Go plugin's threads take a moment to
    // go); wait for it within the deadline, woken by its pidfd (without pidfds: PollInterval).
    var status: Int32 = 0
    var interval = PollInterval()
    while !timedOut {
      let r = waitpid(pid, &status, WNOHANG)
      if r == pid { return Output(exitStatus: decode(status), stdout: out, stderr: err) }
      if r < 0 && errno != EINTR { throw SystemCallError("waitpid", errno: errno, path: path) }
      let left = deadline - Clock.monotonic()
      if left <= 0 { timedOut = true; break }
      if !ProcessControl.waitForExit(pid, timeout: left) { interval.sleep() }
    }
    kill(-pid, SIGKILL)
    _ = reap(pid)
    throw LiftoffError(
      .deadlineExceeded, "cni plugin \(path) did not finish within \(formatSeconds(timeout)); killed")
  }

  private static func reap(_ pid: pid_t) -> Int32 {
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    return status
  }

  private static func decode(_ status: Int32) -> Int32 {
    let sig = status & 0x7f
    if sig == 0 { return (status >> 8) & 0xff }
    return 128 + sig
  }

  private static func writeAll(_ fd: Int32, _ data: Data) throws {
    try data.withUnsafeBytes { raw in
      var off = 0
      while off < raw.count {
        let n = write(fd, raw.baseAddress! + off, raw.count - off)
        if n < 0 {
          if errno == EINTR { continue }
          throw SystemCallError("write", errno: errno)
        }
        off += n
      }
    }
  }
}

func formatSeconds(_ s: Double) -> String {
  s == s.rounded() ? "\(Int(s))s" : "\(s)s"
}
