// Linux namespaces: the kinds Liftoff uses, unshare/setns, joining one bound at a path (stage1 joins
// the pod's network namespace that stage0 created with LiftoffNet under /run/netns).
import CLinux
import Glibc
import LiftoffCore

public enum Namespace: String, Sendable, CaseIterable {
  case mount = "mnt", uts, ipc, net, pid, cgroup, user

  public var cloneFlag: Int32 {
    switch self {
    case .mount: return 0x0002_0000  // CLONE_NEWNS
    case .uts: return 0x0400_0000
    case .ipc: return 0x0800_0000
    case .net: return 0x4000_0000
    case .pid: return 0x2000_0000
    case .cgroup: return 0x0200_0000
    case .user: return 0x1000_0000
    }
  }

  public static func flags(_ kinds: [Namespace]) -> Int32 { kinds.reduce(0) { $0 | $1.cloneFlag } }

  /// Unshares the given namespaces for the calling process (single-threaded callers for mount/user).
  public static func unshare(_ kinds: [Namespace]) throws(SystemCallError) {
    guard liftoff_unshare(flags(kinds)) == 0 else {
      throw SystemCallError("unshare \(kinds.map(\.rawValue).joined(separator: ","))", errno: errno)
    }
  }

  /// Joins the namespace bound at `path` (e.g. /run/netns/NAME or /proc/PID/ns/net).
  public static func join(_ kind: Namespace, path: String) throws(SystemCallError) {
    let fd = liftoff_open_mode(path, O_RDONLY | O_CLOEXEC, 0)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: path) }
    defer { close(fd) }
    guard liftoff_setns(fd, kind.cloneFlag) == 0 else { throw SystemCallError("setns", errno: errno, path: path) }
  }

  /// Runs `body` (a fork) with the caller's pid_for_children set to the PID namespace of `pid`, then
  /// sets it back: the child is born in that namespace, the caller stays where it is.
  public static func withPIDNamespace<T>(of pid: Int32, _ body: () throws(SystemCallError) -> T) throws(SystemCallError) -> T {
    let saved = liftoff_open_mode("/proc/self/ns/pid_for_children", O_RDONLY | O_CLOEXEC, 0)
    guard saved >= 0 else { throw SystemCallError("open", errno: errno, path: "/proc/self/ns/pid_for_children") }
    defer { close(saved) }
    try join(.pid, path: "/proc/\(pid)/ns/pid")
    defer { _ = liftoff_setns(saved, Namespace.pid.cloneFlag) }
    return try body()
  }

  /// Brings `lo` up in the caller's network namespace (a new one has it down).
  public static func loopbackUp() throws(SystemCallError) {
    guard liftoff_loopback_up() == 0 else { throw SystemCallError("ioctl SIOCSIFFLAGS lo", errno: errno) }
  }

  /// The inode identifying a process's namespace (`/proc/PID/ns/KIND`), for comparisons in tests.
  public static func inode(_ kind: Namespace, pid: String = "self") throws(SystemCallError) -> UInt64 {
    let st = try FileSystem.fileStat("/proc/\(pid)/ns/\(kind.rawValue)")
    return UInt64(st.st_ino)
  }
}

