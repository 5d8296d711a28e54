// Mounts: the small functions stage1 builds a rootfs with, and the mount table reader gc uses to
// find what a crash left mounted under a pod directory.
import CLinux
import Glibc
import LiftoffCore

public enum Mounts {
  public static func mount(
    _ source: String, _ target: String, type: String? = nil, flags: UInt = 0, data: String? = nil
  ) throws(SystemCallError) {
    let rc: Int32
    if let data {
      rc = Glibc.mount(source, target, type, flags, data)
    } else {
      rc = Glibc.mount(source, target, type, flags, nil)
    }
    guard rc == 0 else { throw SystemCallError("mount \(type ?? "bind") \(source) on", errno: errno, path: target) }
  }

  public static func bind(_ source: String, _ target: String, recursive: Bool = true, readOnly: Bool = false)
    throws(SystemCallError)
  {
    try mount(source, target, flags: UInt(MS_BIND) | (recursive ? UInt(MS_REC) : 0))
    if readOnly { try remountReadOnly(target, bind: true) }
  }

  /// Makes a mount read-only, keeping nosuid/nodev/noexec it already has (a bind remount must
  /// repeat the locked flags, or the kernel refuses with EPERM).
  public static func remountReadOnly(_ target: String, bind: Bool) throws(SystemCallError) {
    var flags = UInt(MS_REMOUNT) | UInt(MS_RDONLY) | (bind ? UInt(MS_BIND) : 0)
    var sfs = statvfs()
    if statvfs(target, &sfs) == 0 {
      let f = UInt(sfs.f_flag)
      if f & UInt(2) /* ST_NOSUID */ != 0 { flags |= UInt(MS_NOSUID) }
      if f & UInt(4) /* ST_NODEV */ != 0 { flags |= UInt(MS_NODEV) }
      if f & UInt(8) /* ST_NOEXEC */ != 0 { flags |= UInt(MS_NOEXEC) }
      if f & UInt(1024) /* ST_NOATIME */ != 0 { flags |= UInt(MS_NOATIME) }
      if f & UInt(2048) /* ST_NODIRATIME */ != 0 { flags |= UInt(MS_NODIRATIME) }
      if f & UInt(4096) /* ST_RELATIME */ != 0 { flags |= UInt(MS_RELATIME) }
    }
    try mount("", target, flags: flags)
  }

  /// Makes the mount at `target` and every mount below it read-only (mount_setattr, Linux 5.12+).
  public static func makeReadOnlyRecursively(_ target: String) throws(SystemCallError) {
    guard liftoff_mount_setattr_rdonly(target, 1) == 0 else { throw SystemCallError("mount_setattr", errno: errno, path: target) }
  }

  /// Does this kernel have mount_setattr(2)? (Asked with arguments it must reject: ENOSYS only
  /// when the call does not exist.)
  public static var hasMountSetattr: Bool { liftoff_has_mount_setattr() != 0 }

  public static func setPropagation(_ target: String, _ p: AppMount.Propagation) throws(SystemCallError) {
    let flag: UInt
    switch p {
    case .private: flag = UInt(MS_PRIVATE)
    case .rprivate: flag = UInt(MS_PRIVATE) | UInt(MS_REC)
    case .slave: flag = UInt(MS_SLAVE)
    case .rslave: flag = UInt(MS_SLAVE) | UInt(MS_REC)
    case .shared: flag = UInt(MS_SHARED)
    case .rshared: flag = UInt(MS_SHARED) | UInt(MS_REC)
    }
    try mount("", target, flags: flag)
  }

  /// overlayfs with `lower` (lowest layer first, as ResolvedImage lists them) under `upper`.
  ///
  /// `volatile` (Linux 5.10+; without it on older kernels, which refuse the option with EINVAL): the
  /// overlay never syncs its upper filesystem — not on an app's fsync or syncfs, and not when it is
  /// unmounted, where overlayfs otherwise syncs the *whole* filesystem holding the upper dir (every
  /// pod's and the host's dirty data on it: umount(8) with 20 MB dirty elsewhere on /var took 11.9 ms
  /// plain, 2.8 ms volatile; with nothing dirty 2.6 and 2.5 ms). A container's writable layer is never used again after a host crash (a container that
  /// runs again after a reboot is a new one, with a new layer, in the CRI as in rkt), so the syncs
  /// bought nothing; a removed container's unwritten data is simply dropped.
  public static func overlay(
    lower: [String], upper: String, work: String, target: String, volatile: Bool = false
  ) throws(SystemCallError) {
    guard !lower.isEmpty else { throw SystemCallError("mount overlay (no layers) on", errno: EINVAL, path: target) }
    let data = "lowerdir=\(lower.reversed().joined(separator: ":")),upperdir=\(upper),workdir=\(work)"
    if volatile {
      do {
        try mount("overlay", target, type: "overlay", flags: 0, data: data + ",volatile")
        return
      } catch where error.errno == EINVAL {
        // A kernel before 5.10: no volatile overlays; the plain one below.
      }
    }
    try mount("overlay", target, type: "overlay", flags: 0, data: data)
  }

  public static func unmount(_ target: String, detach: Bool = true) throws(SystemCallError) {
    guard umount2(target, detach ? Int32(MNT_DETACH) : 0) == 0 else {
      throw SystemCallError("umount", errno: errno, path: target)
    }
  }

  public static func pivotRoot(_ newRoot: String) throws(SystemCallError) {
    guard chdir(newRoot) == 0 else { throw SystemCallError("chdir", errno: errno, path: newRoot) }
    try pivotRootHere(newRoot)
  }

  /// pivot_root into the directory `fd` names (`path` for messages).
  public static func pivotRoot(_ fd: OwnedDescriptor, path: String) throws(SystemCallError) {
    guard fchdir(fd.raw) == 0 else { throw SystemCallError("chdir", errno: errno, path: path) }
    try pivotRootHere(path)
  }

  /// pivot_root into the working directory, with the pivot_root(".", ".") idiom: no put_old
  /// directory is needed inside the new root.
  static func pivotRootHere(_ newRoot: String) throws(SystemCallError) {
    guard liftoff_pivot_root(".", ".") == 0 else { throw SystemCallError("pivot_root", errno: errno, path: newRoot) }
    guard umount2(".", Int32(MNT_DETACH)) == 0 else { throw SystemCallError("umount old root", errno: errno, path: newRoot) }
    guard chdir("/") == 0 else { throw SystemCallError("chdir", errno: errno, path: "/") }
  }

  /// Mount points of the calling process's mount namespace (`/proc/self/mountinfo` field 5),
  /// with the octal escapes (`\040` …) decoded.
  public static func mountPoints(mountinfo: String = "/proc/self/mountinfo") throws(SystemCallError) -> [String] {
    let text = try FileSystem.readString(mountinfo)
    return parseMountPoints(text)
  }

  public static func parseMountPoints(_ text: String) -> [String] {
    var out: [String] = []
    for line in text.split(separator: "\n") {
      let fields = line.split(separator: " ", omittingEmptySubsequences: false)
      guard fields.count > 4 else { continue }
      out.append(unescape(String(fields[4])))
    }
    return out
  }

  /// A detached recursive clone of `source` as the mount namespace `namespaceFD` sees it: a peer of
  /// the other namespace's mounts, so mounts propagate between them both ways when that mount is
  /// shared. For a single-threaded caller (stage1's app child); attach it with Rootfs.attach.
  public static func cloneFromNamespace(_ namespaceFD: Int32, _ source: String) throws(SystemCallError) -> OwnedDescriptor {
    var step: Int32 = 0
    let fd = liftoff_clone_from_namespace(namespaceFD, source, &step)
    guard fd >= 0 else {
      let calls = ["open /proc/self/ns/mnt", "setns to the host's mount namespace", "open_tree", "setns back"]
      throw SystemCallError(calls[Int(min(max(step, 0), 3))], errno: errno, path: source)
    }
    return OwnedDescriptor(fd)
  }

  /// The mount holding `path` (canonical, absolute) and its propagation, from mountinfo's optional
  /// fields (`shared:N`, `master:N`): the last-listed mount whose mount point is `path` or one of
  /// its parents (mountinfo lists parents before children, and the later of two mounts stacked on
  /// one point is the visible one).
  public static func propagation(of path: String, mountinfo: String? = nil) throws(SystemCallError)
    -> (mountPoint: String, shared: Bool, slave: Bool)?
  {
    let text: String
    if let mountinfo { text = mountinfo } else { text = try FileSystem.readString("/proc/self/mountinfo") }
    var best: (mountPoint: String, shared: Bool, slave: Bool)?
    for line in text.split(separator: "\n") {
      let fields = line.split(separator: " ", omittingEmptySubsequences: false)
      guard fields.count > 7 else { continue }
      let point = unescape(String(fields[4]))
      let covers = point == "/" || path == point || path.hasPrefix(point + "/")
      guard covers, point.count >= (best?.mountPoint.count ?? 0) else { continue }
      var shared = false, slave = false
      for f in fields[6...] {
        if f == "-" { break }
        if f.hasPrefix("shared:") { shared = true }
        if f.hasPrefix("master:") { slave = true }
      }
      best = (point, shared, slave)
    }
    return best
  }

  static func unescape(_ s: String) -> String {
    guard s.contains("\\") else { return s }
    var bytes: [UInt8] = []
    let b = Array(s.utf8)
    var i = 0
    while i < b.count {
      if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
        let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8)
      {
        bytes.append(v)
        i += 4
      } else {
        bytes.append(b[i])
        i += 1
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// Unmounts (lazily) every mount at or below `dir`, deepest first. Returns what it unmounted.
  /// `dir` must be a canonical absolute path (no symlinks): mountinfo shows canonical paths.
  @discardableResult
  public static func unmountAll(under dir: String) throws(SystemCallError) -> [String] {
    var done: [String] = []
    // A mount can hide others; repeat until nothing below `dir` is left (bounded).
    for _ in 0..<8 {
      let below = try mountPoints().filter { $0 == dir || $0.hasPrefix(dir.hasSuffix("/") ? dir : dir + "/") }
      if below.isEmpty { break }
      for m in below.sorted(by: { $0.count > $1.count }) {
        if umount2(m, Int32(MNT_DETACH)) == 0 { done.append(m) } else if errno != EINVAL && errno != ENOENT {
          throw SystemCallError("umount", errno: errno, path: m)
        }
      }
    }
    return done
  }

  /// The canonical form of an existing path (realpath(3)).
  public static func canonical(_ path: String) throws(SystemCallError) -> String {
    guard let p = realpath(path, nil) else { throw SystemCallError("realpath", errno: errno, path: path) }
    defer { free(p) }
    return String(cString: p)
  }
}
