// The user namespace side of an app (pods with `userNamespace` in pod.json).
//
// One user namespace per pod, made by stage1 at start-up (Supervisor.setUpPodNamespaces) with the
// pod's mappings and held as a descriptor for the pod's life; every app joins that one.
//
// An app's mount, PID (and the pod's IPC, UTS, network) namespaces stay owned by the host's user
// namespace: the child builds the app's whole world as host root, exactly as for any other pod
// (sysfs, mqueue, device nodes, sysctls need nothing special), then joins the pod's user namespace
// last, after pivot_root, just before it drops to the app's user. Inside, root has every capability of
// the user namespace but none over the namespaces it is in: it cannot mount, write a host-owned sysctl,
// or load a kernel module. What is created on the host's side before the join gets host IDs of the
// mapping (the tmpfs /dev, devpts' tty group, device nodes).
//
// The rootfs: overlayfs cannot be idmapped itself (mount_setattr(MOUNT_ATTR_IDMAP) on an overlay mount
// is EINVAL on this 6.18 kernel), so each read-only layer directory gets an idmapped clone
// (open_tree(OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_IDMAP, pod userns) + move_mount) under
// rootfs/idmap/<i>, the overlay is mounted over those clones, and the clones are detached again (the
// overlay keeps private references to its layers). The upper layer is not idmapped: what the app
// writes lands there with the host IDs of the mapping, and its root directory is owned by the host ID
// of container root. containerd 2 does the same (idmapped lower layers, plain upper).
import Glibc
import LiftoffCore
import LiftoffOS

extension AppLauncher {
  var userNamespace: UserNamespaceMappings? { pod.flavor == .default ? pod.userNamespace : nil }

  /// The host UID/GID that a container ID is seen as on the host (the ID itself without a user namespace).
  func hostUID(_ id: UInt32) -> UInt32 { userNamespace.map { $0.hostUID(id) ?? 65534 } ?? id }
  func hostGID(_ id: UInt32) -> UInt32 { userNamespace.map { $0.hostGID(id) ?? 65534 } ?? id }

  /// `,uid=…,gid=…` for a tmpfs the app's root must own (empty without a user namespace).
  var rootOwnerMountOptions: String {
    guard userNamespace != nil else { return "" }
    return ",uid=\(hostUID(0)),gid=\(hostGID(0))"
  }

  /// The rootfs overlay, volatile (Mounts.overlay): over idmapped clones of the layers for a
  /// user-namespaced pod.
  func mountRootfs(upper: String, work: String) throws {
    guard userNamespace != nil else {
      try Mounts.overlay(lower: app.image.layerDirs, upper: upper, work: work, target: rootfs, volatile: true)
      return
    }
    guard userns >= 0 else { throw LiftoffError(.internal, "app \(app.name): the pod's user namespace is not set up") }
    let base = "\(appDir)/rootfs/idmap"
    var clones: [String] = []
    defer {
      for c in clones {
        _ = try? Mounts.unmount(c)
        rmdir(c)
      }
      rmdir(base)
    }
    for (i, layer) in app.image.layerDirs.enumerated() {
      let target = "\(base)/\(i)"
      try FileSystem.makeDirectories(target)
      try UserNamespace.idmappedBind(layer, target, userns: userns, recursive: false)
      clones.append(target)
    }
    guard lchown(upper, hostUID(0), hostGID(0)) == 0 else { throw SystemCallError("chown", errno: errno, path: upper) }
    try Mounts.overlay(lower: clones, upper: upper, work: work, target: rootfs, volatile: true)
  }

  /// The user namespaces of the app's idmapped mounts, made by stage1 before the fork (in the
  /// child, inside a new PID namespace with the host's /proc, /proc/PID of a helper is the wrong
  /// process): one per idmapped mount, as runc does for OCI `mounts[].uidMappings`.
  func makeMountUserNamespaces() throws {
    for (i, m) in app.mounts.enumerated() where m.isIDMapped {
      try m.validateIDMapping(in: "app \(app.name): mount \(m.destination)")
      mountUserNamespaces.fds[i] = try UserNamespace.create(uids: m.uidMappings, gids: m.gidMappings)
    }
  }

  /// An idmapped volume: a clone of its source mapped through the mount's own user namespace.
  func idmappedBind(_ m: AppMount, _ target: String) throws {
    guard let i = app.mounts.firstIndex(of: m), let fd = mountUserNamespaces.fds[i] else {
      throw LiftoffError(.internal, "app \(app.name): mount \(m.destination): no user namespace for its idmapping")
    }
    try UserNamespace.idmappedBind(m.source, target, userns: fd, recursive: true)
  }

  /// Joins the pod's user namespace (the child, after pivot_root). Raises the rlimits first: a hard
  /// limit above the current one needs CAP_SYS_RESOURCE of the host's user namespace.
  func enterUserNamespace() throws {
    guard userNamespace != nil else { return }
    for r in app.rlimits { try ProcessControl.setRlimit(r) }
    try UserNamespace.enter(userns)
    // setns keeps our IDs (host root, unmapped in there): become the namespace's root, so that what
    // we create until the app's own user is set (its pty, working directory) is owned by it.
    try UserNamespace.becomeRoot()
  }
}

/// Descriptors of the user namespaces of an app's idmapped mounts, by mount index.
final class MountUserNamespaces {
  var fds: [Int: Int32] = [:]
  func closeAll() {
    for fd in fds.values { close(fd) }
    fds = [:]
  }
}
