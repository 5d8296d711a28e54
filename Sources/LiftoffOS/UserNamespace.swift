// User namespaces and idmapped mounts: the kernel calls behind a pod's user namespace (stage1) and
// behind liftoff-cri's start-up probe. The C half (CLinux/userns.c) is safe in threaded processes.
import CLinux
import Glibc
import LiftoffCore

public enum UserNamespace {
  /// A new user namespace with these mappings, written by this (host-root) process; returns an
  /// O_CLOEXEC descriptor that keeps it alive (the helper process that made it is gone).
  public static func create(_ m: UserNamespaceMappings) throws(SystemCallError) -> Int32 {
    try create(uids: m.uids, gids: m.gids)
  }

  public static func create(uids: [IDMapping], gids: [IDMapping]) throws(SystemCallError) -> Int32 {
    var step: Int32 = 0
    let fd = liftoff_userns_create(IDMapping.procText(uids), IDMapping.procText(gids), &step)
    guard fd >= 0 else {
      let call = ["clone(CLONE_NEWUSER)", "write uid_map", "write gid_map", "open ns/user"][Int(min(max(step, 0), 3))]
      throw SystemCallError(call, errno: errno)
    }
    return fd
  }

  /// Joins the user namespace `fd` refers to (single-threaded callers only). The caller then holds
  /// every capability in it, and none outside it.
  public static func enter(_ fd: Int32) throws(SystemCallError) {
    guard liftoff_setns(fd, 0x1000_0000 /* CLONE_NEWUSER */) == 0 else { throw SystemCallError("setns(CLONE_NEWUSER)", errno: errno) }
  }

  /// After `enter`: uid and gid 0 of the namespace (setresgid/setresuid; capabilities stay, the new
  /// IDs being the namespace's root). A no-op when container ID 0 is not mapped.
  public static func becomeRoot() throws(SystemCallError) {
    guard liftoff_setresgid(0) == 0 || errno == EINVAL else { throw SystemCallError("setresgid(0)", errno: errno) }
    guard liftoff_setresuid(0) == 0 || errno == EINVAL else { throw SystemCallError("setresuid(0)", errno: errno) }
  }

  /// An idmapped copy of `source`'s mount (its whole tree when `recursive`) attached at `target`:
  /// files owned on disk by an ID the namespace maps from appear owned by the ID it maps to.
  public static func idmappedBind(_ source: String, _ target: String, userns: Int32, recursive: Bool) throws(SystemCallError) {
    var step: Int32 = 0
    guard liftoff_idmap_mount(source, target, userns, recursive ? 1 : 0, &step) == 0 else {
      let call = ["open_tree(OPEN_TREE_CLONE)", "mount_setattr(MOUNT_ATTR_IDMAP)", "move_mount"][Int(min(max(step, 0), 2))]
      throw SystemCallError("\(call) \(source) for", errno: errno, path: target)
    }
  }

  /// A detached idmapped clone of `source`'s mount (its whole tree when `recursive`), to attach with
  /// Rootfs.attach.
  public static func idmappedClone(_ source: String, userns: Int32, recursive: Bool) throws(SystemCallError) -> OwnedDescriptor {
    var step: Int32 = 0
    let fd = liftoff_idmap_clone(source, userns, recursive ? 1 : 0, &step)
    guard fd >= 0 else {
      throw SystemCallError(step == 0 ? "open_tree(OPEN_TREE_CLONE)" : "mount_setattr(MOUNT_ATTR_IDMAP)", errno: errno, path: source)
    }
    return OwnedDescriptor(fd)
  }

  /// Whether idmapped mounts of `dir`'s file system work here: nil, or what failed.
  public static func probeIDMappedMounts(_ dir: String) -> SystemCallError? {
    let fd: Int32
    do {
      fd = try create(
        uids: [IDMapping(containerID: 0, hostID: 1 << 20, size: 65536)], gids: [IDMapping(containerID: 0, hostID: 1 << 20, size: 65536)])
    } catch {
      return error
    }
    defer { close(fd) }
    let rc = liftoff_idmap_probe(dir, fd)
    return rc == 0 ? nil : SystemCallError("open_tree+mount_setattr(MOUNT_ATTR_IDMAP)", errno: rc, path: dir)
  }
}
