// Per-pod network namespaces, bind-mounted at /run/netns/<name> the way `ip netns add` does, so that
// they outlive the process that made them and CNI plugins and stage1 can join them by path.
//
// How a namespace is made from a multi-threaded Swift process: unshare(CLONE_NEWNET) changes the
// network namespace of the calling *thread* only. create() starts a throwaway pthread, which unshares
// and bind-mounts /proc/thread-self/ns/net onto the target file, then exits; no other code ever runs
// on that thread, so nothing else of the process sees the new namespace. (A mount namespace is
// process-wide state — the bind mount is made in the process's one mount namespace, as wanted.)
// No fork, no helper binary, no dependence on iproute2.
//
// /run/netns itself is made a shared mount point (bind-mounted onto itself first when it is not a
// mount point), as iproute2 does, so that namespace mounts propagate into mount namespaces created
// later (pods started before the namespace existed still see it, and its unmount).
import Foundation
import CLinux
import Glibc
import LiftoffCore

public enum NetworkNamespace {
  public static let defaultRunDir = "/run/netns"

  /// Creates a new network namespace bound at `<runDir>/<name>` and returns that path.
  /// Throws alreadyExists when the name is taken.
  public static func create(name: String, runDir: String = defaultRunDir) throws -> String {
    guard !name.isEmpty, !name.contains("/"), name != ".", name != "..", !name.contains("\0"),
      name.utf8.count <= 255
    else {
      throw LiftoffError.invalidArgument("network namespace name \"\(name)\" must be a plain file name")
    }
    try makeSharedMountPoint(runDir)
    let path = runDir + "/" + name
    let fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)
    if fd < 0 {
      if errno == EEXIST { throw LiftoffError(.alreadyExists, "network namespace \(path) already exists") }
      throw SystemCallError("open", errno: errno, path: path)
    }
    close(fd)
    let job = UnshareJob(target: path)
    let failure = job.runOnThrowawayThread()
    if let failure {
      unlink(path)
      throw LiftoffError(.internal, "cannot create network namespace \(path)", cause: failure)
    }
    return path
  }

  /// Unmounts and removes a namespace file. Idempotent: a path that is not mounted or not there is fine.
  /// The namespace itself ends when the last process in it exits.
  public static func remove(_ path: String) throws {
    if umount2(path, Int32(MNT_DETACH)) != 0 && errno != EINVAL && errno != ENOENT {
      throw LiftoffError(.internal, "cannot unmount network namespace \(path)", cause: SystemCallError("umount2", errno: errno, path: path))
    }
    if unlink(path) != 0 && errno != ENOENT {
      throw LiftoffError(.internal, "cannot remove network namespace \(path)", cause: SystemCallError("unlink", errno: errno, path: path))
    }
  }

  /// True when `path` is a bind-mounted network namespace (nsfs).
  public static func isNamespace(_ path: String) -> Bool {
    liftoff_net_fs_type(path) == 0x6e73_6673  // NSFS_MAGIC
  }

  private static func makeSharedMountPoint(_ dir: String) throws {
    if mkdir(dir, 0o755) != 0 && errno != EEXIST { throw SystemCallError("mkdir", errno: errno, path: dir) }
    // Serialize the check-then-bind against other Liftoff processes doing the same.
    let lockFD = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard lockFD >= 0 else { throw SystemCallError("open", errno: errno, path: dir) }
    defer { close(lockFD) }
    while flock(lockFD, LOCK_EX) != 0 {
      if errno != EINTR { throw SystemCallError("flock", errno: errno, path: dir) }
    }
    let flags = UInt(MS_SHARED) | UInt(MS_REC)
    if mount("", dir, "none", flags, nil) == 0 { return }
    guard errno == EINVAL else { throw SystemCallError("mount --make-rshared", errno: errno, path: dir) }
    // Not a mount point yet: make it one, then shared.
    guard mount(dir, dir, "none", UInt(MS_BIND) | UInt(MS_REC), nil) == 0 else {
      throw SystemCallError("mount --bind", errno: errno, path: dir)
    }
    guard mount("", dir, "none", flags, nil) == 0 else {
      throw SystemCallError("mount --make-rshared", errno: errno, path: dir)
    }
  }
}

/// The work done on the throwaway thread, and its outcome.
private final class UnshareJob: @unchecked Sendable {
  let target: String
  var failure: SystemCallError?

  init(target: String) { self.target = target }

  /// Runs `work` on a new pthread and joins it; returns the failure, if any.
  func runOnThrowawayThread() -> SystemCallError? {
    let unmanaged = Unmanaged.passRetained(self)
    var thread = pthread_t()
    let rc = pthread_create(
      &thread, nil,
      { arg in
        let job = Unmanaged<UnshareJob>.fromOpaque(arg!).takeUnretainedValue()
        job.work()
        return nil
      }, unmanaged.toOpaque())
    if rc != 0 {
      unmanaged.release()
      return SystemCallError("pthread_create", errno: rc)
    }
    pthread_join(thread, nil)
    unmanaged.release()
    return failure
  }

  private func work() {
    guard liftoff_net_unshare() == 0 else {
      failure = SystemCallError("unshare(CLONE_NEWNET)", errno: errno)
      return
    }
    guard mount("/proc/thread-self/ns/net", target, "none", UInt(MS_BIND), nil) == 0 else {
      failure = SystemCallError("mount --bind /proc/thread-self/ns/net", errno: errno, path: target)
      return
    }
    // The thread ends here, and with it the only user of the new namespace besides the bind mount.
  }
}
