// Linux namespaces: the kinds Liftoff uses, unshare/setns, and network namespaces bind-mounted
// under /run/netns (the `ip netns` convention) so that stage0 can create one and stage1 join it.
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

  /// The inode identifying a process's namespace (`/proc/PID/ns/KIND`), for comparisons in tests.
  public static func inode(_ kind: Namespace, pid: String = "self") throws(SystemCallError) -> UInt64 {
    let st = try FileSystem.fileStat("/proc/\(pid)/ns/\(kind.rawValue)")
    return UInt64(st.st_ino)
  }
}

/// Network namespaces bound under a directory (default /run/netns), as `ip netns` does.
public enum NetworkNamespace {
  public static let defaultDirectory = "/run/netns"

  /// Creates a new, empty network namespace bound at `path` and brings its loopback up. Safe from
  /// a multi-threaded process: only the calling thread enters the namespace, and leaves it again.
  public static func create(at path: String) throws(SystemCallError) {
    let dir = FileSystem.parent(of: path)
    try FileSystem.makeDirectories(dir)
    // `ip netns` makes the directory a shared mount point so bindings propagate to other
    // namespaces; mirror that once (errors mean it is already one).
    ensureSharedMountPoint(dir)
    let fd = liftoff_open_mode(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o444)
    guard fd >= 0 else { throw SystemCallError("create", errno: errno, path: path) }
    close(fd)
    guard liftoff_netns_create(path) == 0 else {
      let e = errno
      unlink(path)
      throw SystemCallError("create network namespace", errno: e, path: path)
    }
  }

  /// Unmounts and removes a namespace binding; a missing one is fine.
  public static func remove(at path: String) throws(SystemCallError) {
    if umount2(path, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
      throw SystemCallError("umount", errno: errno, path: path)
    }
    if unlink(path) != 0 && errno != ENOENT { throw SystemCallError("unlink", errno: errno, path: path) }
  }

  private static func ensureSharedMountPoint(_ dir: String) {
    if let points = try? Mounts.mountPoints(), points.contains(dir) { return }
    if Glibc.mount(dir, dir, nil, UInt(MS_BIND) | UInt(MS_REC), nil) == 0 {
      _ = Glibc.mount("", dir, nil, UInt(MS_SHARED) | UInt(MS_REC), nil)
    }
  }

  /// Brings `lo` up in the caller's network namespace.
  public static func loopbackUp() throws(SystemCallError) {
    guard liftoff_loopback_up() == 0 else { throw SystemCallError("ioctl SIOCSIFFLAGS lo", errno: errno) }
  }
}
