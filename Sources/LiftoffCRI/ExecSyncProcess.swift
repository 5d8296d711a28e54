// ExecSync's process: `liftoff`'s enter half (CLinux/nsenter.c, run by the environment that
// PodManager.enterInvocation computes — what `liftoff enter --app ID POD -- CMD…` would re-exec itself
// with, minus one process start-up) spawned with posix_spawn (never fork in this
// multi-threaded server) in a process group of its own, stdin from /dev/null, stdout and stderr
// collected up to a cap. On timeout the whole group is killed with SIGKILL — the waiting `liftoff
// enter` and the command it runs inside the container's PID namespace (a process group spans PID
// namespaces) — so a probe that hangs never outlives its deadline.
import CLinux
import Foundation
import LiftoffCore
import LiftoffImage
import LiftoffOS

struct ExecSyncProcess {
  /// Each stream keeps at most this much (as CRI-O's 16 MiB exec output limit).
  static let outputCap = 16 << 20

  struct Result: Sendable {
    var stdout: Data
    var stderr: Data
    var exitCode: Int32
    var timedOut: Bool
  }

  /// The executable, its argv (argv[0] included) and its whole environment.
  let executable: String
  let argv: [String]
  let env: [String]

  func run(timeoutSeconds: Int64) async throws -> Result {
    let o = try ProcessControl.pipe()
    let e = try ProcessControl.pipe()
    let outPipe = [o.read, o.write]
    let errPipe = [e.read, e.write]
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    _ = liftoff_spawn_closefrom(&actions, 3)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    posix_spawnattr_setpgroup(&attr, 0)
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
    close(outPipe[1])
    close(errPipe[1])
    guard rc == 0 else {
      close(outPipe[0])
      close(errPipe[0])
      throw LiftoffError.internal("exec: cannot run \(executable): \(String(cString: strerror(rc)))")
    }
    let (outFD, errFD, child) = (outPipe[0], errPipe[0], pid)
    async let stdout = Self.drain(outFD)
    async let stderr = Self.drain(errFD)
    // Blocking calls run on threads of their own: on the 2-thread cooperative pool they would starve
    // the timeout.
    let exited = Task {
      (try? await runOnThread { () -> Int32 in
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
      }) ?? -1
    }
    let killer = Task.detached { () -> Bool in
      guard timeoutSeconds > 0 else { return false }
      do { try await Task.sleep(for: .seconds(timeoutSeconds)) } catch { return false }
      kill(-child, SIGKILL)
      return true
    }
    let code = await exited.value
    killer.cancel()
    let timedOut = await killer.value
    // The group may still hold the pipes (a background child): after the leader's exit they get
    // SIGKILL too, so reading ends.
    kill(-child, SIGKILL)
    return Result(stdout: await stdout, stderr: await stderr, exitCode: code, timedOut: timedOut)
  }

  /// Reads a pipe to EOF on a thread of its own, keeping at most `outputCap` bytes.
  static func drain(_ fd: Int32) async -> Data {
    (try? await runOnThread {
      var data = Data()
      var buf = [UInt8](repeating: 0, count: 65536)
      while true {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        if data.count < outputCap { data.append(contentsOf: buf[0..<min(n, outputCap - data.count)]) }
      }
      close(fd)
      return data
    }) ?? Data()
  }
}
