// Processes: forking with namespace flags (stage1 only: it is single-threaded), waiting, signals
// through a signalfd, credentials, rlimits, oom_score_adj, and execve with a PATH search in the
// app's own environment.
import CLinux
import Glibc
import LiftoffCore

public enum ProcessControl {
  /// fork(2) with extra clone flags (e.g. CLONE_NEWPID). Only for single-threaded callers.
  public static func fork(namespaces: [Namespace] = []) throws(SystemCallError) -> Int32 {
    let pid = liftoff_clone(UInt(Namespace.flags(namespaces)))
    guard pid >= 0 else { throw SystemCallError("clone", errno: errno) }
    return pid
  }

  /// How a child ended.
  public enum Termination: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)
    /// The exit status as a shell reports it (128 + signal).
    public var shellStatus: Int32 {
      switch self {
      case .exited(let c): return c
      case .signaled(let s): return 128 + s
      }
    }
  }

  static func decode(_ status: Int32) -> Termination? {
    let sig = status & 0x7f
    if sig == 0 { return .exited((status >> 8) & 0xff) }
    if sig != 0x7f { return .signaled(sig) }
    return nil
  }

  /// Reaps any child without blocking; nil when none has exited.
  public static func reapAny() -> (pid: Int32, termination: Termination)? {
    var status: Int32 = 0
    while true {
      let pid = waitpid(-1, &status, WNOHANG)
      if pid > 0, let t = decode(status) { return (pid, t) }
      if pid < 0 && errno == EINTR { continue }
      return nil
    }
  }

  /// Waits for one child.
  public static func wait(_ pid: Int32) throws(SystemCallError) -> Termination {
    var status: Int32 = 0
    while true {
      let r = waitpid(pid, &status, 0)
      if r == pid, let t = decode(status) { return t }
      if r < 0 && errno != EINTR { throw SystemCallError("waitpid", errno: errno) }
    }
  }

  /// A pipe whose ends close on exec.
  /// Waits until process `pid` (any process, not only a child) exits, up to `timeout` seconds,
  /// through a pidfd. Returns false when it cannot watch it (no pidfd support); true otherwise,
  /// whether it exited or the time ran out — the caller checks what it waits for.
  public static func waitForExit(_ pid: Int32, timeout: Double) -> Bool {
    let fd = liftoff_pidfd_open(pid)
    guard fd >= 0 else { return errno == ESRCH }
    defer { close(fd) }
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    _ = poll(&p, 1, Int32(max(0, min(timeout, 3600)) * 1000))
    return true
  }

  /// The processes of process group `pgid` (field 5 of /proc/PID/stat), as this process's PID
  /// namespace numbers them; processes that go away while it looks are left out.
  public static func processGroupMembers(_ pgid: Int32) -> [Int32] {
    guard let names = try? FileSystem.list("/proc") else { return [] }
    var members: [Int32] = []
    for name in names {
      guard let pid = Int32(name), let stat = try? FileSystem.readString("/proc/\(pid)/stat"),
        let close = stat.lastIndex(of: ")")
      else { continue }
      // After "pid (comm)": state ppid pgrp …
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      if fields.count > 2, Int32(fields[2]) == pgid { members.append(pid) }
    }
    return members
  }

  /// Waits for child `pid` and discards its status (nothing for pid <= 0).
  public static func reap(_ pid: Int32) {
    guard pid > 0 else { return }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
  }

  public static func pipe() throws(SystemCallError) -> (read: Int32, write: Int32) {
    var fds: [Int32] = [0, 0]
    guard liftoff_pipe_cloexec(&fds) == 0 else { throw SystemCallError("pipe2", errno: errno) }
    return (fds[0], fds[1])
  }

  /// Blocks `signals` and returns a non-blocking signalfd for them.
  public static func signalFD(_ signals: [Int32]) throws(SystemCallError) -> Int32 {
    let fd = signals.withUnsafeBufferPointer { liftoff_signalfd($0.baseAddress, Int32($0.count)) }
    guard fd >= 0 else { throw SystemCallError("signalfd", errno: errno) }
    return fd
  }

  /// Closes every descriptor from 3 up except `keep` (in a child before exec: nothing stage1
  /// inherited from its caller reaches an app).
  public static func closeDescriptors(except keep: Int32) { liftoff_close_from_except(3, keep) }

  /// Closes every descriptor from 3 up except those in `keep` (negative entries are ignored).
  public static func closeDescriptors(keeping keep: [Int32]) {
    let fds = keep.filter { $0 >= 3 }
    _ = fds.withUnsafeBufferPointer { liftoff_close_except($0.baseAddress, Int32($0.count)) }
  }

  /// The start time of a process (field 22 of /proc/PID/stat: clock ticks since boot), which tells
  /// it apart from a later process that got the same PID; nil when it is gone.
  public static func startTime(of pid: Int32) -> UInt64? {
    guard let text = try? FileSystem.readString("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else { return nil }
    // After the command name (which may hold spaces and parentheses): fields 3, 4, … 22.
    let fields = text[text.index(after: close)...].split(separator: " ")
    return fields.count > 19 ? UInt64(fields[19]) : nil
  }

  /// Whether this process is dumpable: a process crossing into a container is not, until its
  /// execve, so nothing in there can ptrace it or open its /proc/PID/{root,cwd,fd,exe,mem}.
  public static func setDumpable(_ on: Bool) { _ = liftoff_set_dumpable(on ? 1 : 0) }

  /// The next signal from a signalfd; 0 when none is pending, -1 on error.
  public static func readSignal(_ fd: Int32) -> Int32 { liftoff_signalfd_read(fd) }

  /// Default handlers and an empty mask (in a child before exec).
  public static func resetSignals() { liftoff_reset_signals() }

  /// Sets groups, gid and uid, keeping the permitted capabilities across the uid change.
  public static func setCredentials(_ user: AppUser) throws(SystemCallError) {
    guard liftoff_set_keepcaps(1) == 0 else { throw SystemCallError("prctl PR_SET_KEEPCAPS", errno: errno) }
    var groups = user.additionalGids.map { gid_t($0) }
    guard setgroups(groups.count, &groups) == 0 else { throw SystemCallError("setgroups", errno: errno) }
    guard liftoff_setresgid(user.gid) == 0 else { throw SystemCallError("setresgid \(user.gid)", errno: errno) }
    guard liftoff_setresuid(user.uid) == 0 else { throw SystemCallError("setresuid \(user.uid)", errno: errno) }
    _ = liftoff_set_keepcaps(0)
  }

  public static let rlimitNames: [String: Int32] = [
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
  ]

  public static func setRlimit(_ r: AppRlimit) throws(SystemCallError) {
    guard let res = rlimitNames[r.type] else { throw SystemCallError("setrlimit \(r.type) (unknown)", errno: EINVAL) }
    guard liftoff_setrlimit(res, r.soft, r.hard) == 0 else {
      throw SystemCallError("setrlimit \(r.type)", errno: errno)
    }
  }

  /// Writes oom_score_adj for the calling process, clamped to what is allowed without
  /// CAP_SYS_RESOURCE: never below the current value. Returns the value set.
  @discardableResult
  public static func setOOMScoreAdj(_ wanted: Int) throws(SystemCallError) -> Int {
    let current = oomScoreAdj("self")
    let v = max(min(wanted, 1000), current)
    if v != current { try FileSystem.writeControl("/proc/self/oom_score_adj", String(v)) }
    return v
  }

  /// Writes oom_score_adj for another process, clamped as containerd's `restrict_oom_score_adj`
  /// does: never below the caller's own value (what is allowed without CAP_SYS_RESOURCE). Returns
  /// the value set.
  @discardableResult
  public static func setOOMScoreAdj(_ wanted: Int, pid: Int32) throws(SystemCallError) -> Int {
    let v = max(min(wanted, 1000), oomScoreAdj("self"))
    try FileSystem.writeControl("/proc/\(pid)/oom_score_adj", String(v))
    return v
  }

  /// A process's oom_score_adj (`self` or a pid); 0 when unreadable.
  public static func oomScoreAdj(_ pid: String) -> Int {
    Int((try? FileSystem.readString("/proc/\(pid)/oom_score_adj"))?.trimmingCharacters(in: " \n") ?? "0") ?? 0
  }

  /// execve(2) of `argv` with `env`; a command without '/' is searched in the PATH of `env`.
  /// Returns only on failure.
  public static func exec(_ argv: [String], env: [String]) -> SystemCallError {
    guard let cmd = argv.first else { return SystemCallError("execve (empty command)", errno: EINVAL) }
    var candidates: [String] = [cmd]
    if !cmd.contains("/") {
      let path = env.first { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) } ?? defaultPath
      candidates = path.split(separator: ":", omittingEmptySubsequences: false).map {
        ($0.isEmpty ? "." : String($0)) + "/" + cmd
      }
    }
    var firstError: Int32 = ENOENT
    for file in candidates {
      withCStrings(argv) { a in
        withCStrings(env) { e in
          _ = execve(file, a, e)
        }
      }
      let e = errno
      if e != ENOENT && e != ENOTDIR && firstError == ENOENT { firstError = e }
    }
    return SystemCallError("exec", errno: firstError, path: cmd)
  }

  /// The PATH apps get when their image sets none (what runc and containerd use).
  public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

  /// Calls body with a NULL-terminated C array of the strings.
  static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var ptrs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    ptrs.append(nil)
    defer { for p in ptrs { free(p) } }
    return ptrs.withUnsafeBufferPointer { body($0.baseAddress!) }
  }

  public static func setParentDeathSignal(_ sig: Int32) { _ = liftoff_set_pdeathsig(sig) }
  public static func setNoNewPrivileges() throws(SystemCallError) {
    guard liftoff_set_no_new_privs() == 0 else { throw SystemCallError("prctl PR_SET_NO_NEW_PRIVS", errno: errno) }
  }
  public static func setChildSubreaper() { _ = liftoff_set_child_subreaper() }
  public static func setName(_ name: String) { _ = liftoff_set_name(name) }

  /// Signal numbers by name (`SIGTERM`, `TERM`, `15`).
  public static func signalNumber(_ name: String) -> Int32? {
    if let n = Int32(name), n > 0, n < 65 { return n }
    var s = name.uppercased()
    if !s.hasPrefix("SIG") { s = "SIG" + s }
    let table: [String: Int32] = [
      "SIGHUP": 1, "SIGINT": 2, "SIGQUIT": 3, "SIGILL": 4, "SIGTRAP": 5, "SIGABRT": 6, "SIGBUS": 7, "SIGFPE": 8,
      "SIGKILL": 9, "SIGUSR1": 10, "SIGSEGV": 11, "SIGUSR2": 12, "SIGPIPE": 13, "SIGALRM": 14, "SIGTERM": 15,
      "SIGSTKFLT": 16, "SIGCHLD": 17, "SIGCONT": 18, "SIGSTOP": 19, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22,
      "SIGURG": 23, "SIGXCPU": 24, "SIGXFSZ": 25, "SIGVTALRM": 26, "SIGPROF": 27, "SIGWINCH": 28, "SIGIO": 29,
      "SIGPWR": 30, "SIGSYS": 31,
    ]
    return table[s]
  }
}
