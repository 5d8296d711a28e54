// A container's root directory held as a descriptor, and mounts attached by descriptor.
//
// Every path inside a rootfs is resolved inside it — openat2(2) with RESOLVE_IN_ROOT (symlinks and ".."
// resolve as if the rootfs were /) and RESOLVE_NO_MAGICLINKS (no /proc/self/fd/N jumps) — and every
// mount made inside it is attached to the descriptor found that way (move_mount(2) of an open_tree(2)
// clone or an fsmount(2) filesystem). A symlink that an image or a running container planted (`/cni ->
// /etc/cni/net.d`, `/dev/null -> /etc/shadow`) can bend a mount only to another place inside the same
// rootfs, never outside it (runc CVE-2021-30465 and CVE-2025-31133 classes). Directories, files, device
// nodes and symlinks are created relative to a parent descriptor resolved the same way.
//
// For a single-threaded caller between fork and exec (stage1's app child) as much as for any other.
import CLinux
import Glibc
import LiftoffCore

/// O_PATH (Swift's Glibc does not import it): a descriptor that names a place without opening it.
public var O_PATH: Int32 { liftoff_o_path() }

/// A descriptor that closes itself.
public final class OwnedDescriptor {
  public let raw: Int32
  public init(_ raw: Int32) { self.raw = raw }
  deinit { close(raw) }
}

/// MOUNT_ATTR_* of a new or cloned mount.
public struct MountAttributes: OptionSet, Sendable {
  public let rawValue: UInt64
  public init(rawValue: UInt64) { self.rawValue = rawValue }
  public static let readOnly = MountAttributes(rawValue: 0x1)
  public static let noSUID = MountAttributes(rawValue: 0x2)
  public static let noDev = MountAttributes(rawValue: 0x4)
  public static let noExec = MountAttributes(rawValue: 0x8)
  public static let strictAtime = MountAttributes(rawValue: 0x20)
}

public final class Rootfs {
  public let fd: OwnedDescriptor
  /// The rootfs' path in the caller's mount namespace, for messages only.
  public let path: String

  /// Opens `path` (a directory the caller controls, e.g. the overlay's merged dir) as the root.
  public init(path: String) throws(SystemCallError) {
    let fd = liftoff_open_mode(path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: path) }
    self.fd = OwnedDescriptor(fd)
    self.path = path
  }

  /// `p` as the kernel is given it (relative to the root descriptor; "/" is the root itself).
  static func relative(_ p: String) -> String {
    let parts = p.split(separator: "/").filter { $0 != "." }
    return parts.isEmpty ? "." : parts.joined(separator: "/")
  }

  func fail(_ call: String, _ p: String, _ e: Int32 = errno) -> SystemCallError {
    SystemCallError(call, errno: e, path: FileSystem.join(path, p))
  }

  /// `p` resolved inside the root: an O_PATH descriptor unless `flags` says otherwise.
  public func open(_ p: String, flags: Int32 = O_PATH) throws(SystemCallError) -> OwnedDescriptor {
    let fd = liftoff_openat2(self.fd.raw, Self.relative(p), flags, 0, 1)
    guard fd >= 0 else { throw fail("open", p) }
    return OwnedDescriptor(fd)
  }

  /// As `open`, nil when nothing is there (ENOENT).
  public func openIfPresent(_ p: String, flags: Int32 = O_PATH) throws(SystemCallError) -> OwnedDescriptor? {
    let fd = liftoff_openat2(self.fd.raw, Self.relative(p), flags, 0, 1)
    if fd < 0 && errno == ENOENT { return nil }
    guard fd >= 0 else { throw fail("open", p) }
    return OwnedDescriptor(fd)
  }

  /// The type of what `p` resolves to inside the root (S_IFDIR, S_IFREG, …), nil when nothing is there.
  public func fileType(_ p: String) throws(SystemCallError) -> mode_t? {
    guard let d = try openIfPresent(p) else { return nil }
    var st = stat()
    guard fstat(d.raw, &st) == 0 else { throw fail("stat", p) }
    return st.st_mode & S_IFMT
  }

  /// `mkdir -p` inside the root; the directory's O_PATH descriptor. Each missing component is made
  /// with mkdirat(2) in its parent as resolved inside the root; a symlink on the way is followed
  /// inside the root, also when what it points at does not exist yet (it is made there, as
  /// filepath-securejoin resolves a path for runc); a component that is not a directory is an error.
  @discardableResult
  public func makeDirectories(_ p: String, mode: mode_t = 0o755) throws(SystemCallError) -> OwnedDescriptor {
    if let d = try openIfPresent(p, flags: O_PATH | O_DIRECTORY) { return d }
    var pending = Self.parts(p)
    var resolved: [String] = []
    var current = try open("/", flags: O_PATH | O_DIRECTORY)
    var links = 0
    while !pending.isEmpty {
      let part = pending.removeFirst()
      if part == ".." {
        _ = resolved.popLast()
        current = try open("/" + resolved.joined(separator: "/"), flags: O_PATH | O_DIRECTORY)
        continue
      }
      let next = "/" + (resolved + [part]).joined(separator: "/")
      if let d = try openIfPresent(next, flags: O_PATH | O_DIRECTORY) {
        current = d
        resolved.append(part)
        continue
      }
      // Missing, or a symlink whose target is missing: follow the link by hand, or make the directory.
      if let target = Self.readLink(current, part) {
        links += 1
        guard links <= 40 else { throw fail("resolve", p, ELOOP) }
        if target.hasPrefix("/") {
          resolved = []
          current = try open("/", flags: O_PATH | O_DIRECTORY)
        }
        pending = Self.parts(target) + pending
        continue
      }
      if mkdirat(current.raw, part, mode) != 0 && errno != EEXIST { throw fail("mkdir", next) }
      current = try open(next, flags: O_PATH | O_DIRECTORY)
      resolved.append(part)
    }
    return current
  }

  /// The parent directory of `p` (made if missing) and `p`'s last component, with a symlink at the
  /// last component followed inside the root (what is created there lands where the link points,
  /// inside the root).
  public func parentAndName(_ p: String) throws(SystemCallError) -> (parent: OwnedDescriptor, name: String) {
    var path = p
    for _ in 0..<40 {
      let parts = Self.parts(path)
      guard let last = parts.last, last != ".." else { throw fail("resolve", p, EINVAL) }
      let parentPath = "/" + parts.dropLast().joined(separator: "/")
      let parent = try makeDirectories(parentPath)
      guard let target = Self.readLink(parent, last) else { return (parent, last) }
      path = target.hasPrefix("/") ? target : parentPath + "/" + target
    }
    throw fail("resolve", p, ELOOP)
  }

  static func parts(_ p: String) -> [String] { p.split(separator: "/").map(String.init).filter { $0 != "." } }

  /// The target of `name` in `dir` when it is a symlink.
  static func readLink(_ dir: OwnedDescriptor, _ name: String) -> String? {
    var buf = [CChar](repeating: 0, count: 4097)
    let n = readlinkat(dir.raw, name, &buf, 4096)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// A mount point at `p`: a directory, or (for a file being bound) an empty regular file when nothing
  /// is there. What exists already is used as it is (resolved inside the root).
  public func makeMountPoint(_ p: String, directory: Bool) throws(SystemCallError) -> OwnedDescriptor {
    if directory { return try makeDirectories(p) }
    if let d = try openIfPresent(p) { return d }
    let (parent, name) = try parentAndName(p)
    let fd = liftoff_openat2(parent.raw, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644, 0)
    if fd >= 0 { close(fd) } else if errno != EEXIST { throw fail("create", p) }
    let target = liftoff_openat2(parent.raw, name, O_PATH | O_NOFOLLOW, 0, 0)
    guard target >= 0 else { throw fail("open", p) }
    return OwnedDescriptor(target)
  }

  /// A device node at `p` (replacing whatever non-directory is there), with exactly `mode`'s
  /// permission bits and the given owner.
  public func makeDevice(_ p: String, block: Bool, mode: mode_t, major: UInt32, minor: UInt32, uid: uid_t, gid: gid_t)
    throws(SystemCallError)
  {
    let (parent, name) = try parentAndName(p)
    if unlinkat(parent.raw, name, 0) != 0 && errno != ENOENT { throw fail("unlink", p) }
    let old = umask(0)
    defer { umask(old) }
    guard liftoff_mknodat(parent.raw, name, (block ? S_IFBLK : S_IFCHR) | (mode & 0o7777), major, minor) == 0 else {
      throw fail("mknod", p)
    }
    guard fchownat(parent.raw, name, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 else { throw fail("chown", p) }
  }

  /// A symlink at `p` pointing at `target` (which is not resolved).
  public func makeSymlink(_ p: String, to target: String) throws(SystemCallError) {
    let (parent, name) = try parentAndName(p)
    guard symlinkat(target, parent.raw, name) == 0 else { throw fail("symlink", p) }
  }

  /// Opens `name` in the directory `parent` without following a symlink there (no RESOLVE_IN_ROOT:
  /// `name` is one component); creates it (mode) with O_CREAT.
  public static func openIn(_ parent: OwnedDescriptor, _ name: String, flags: Int32, mode: mode_t = 0) throws(SystemCallError) -> OwnedDescriptor {
    let fd = liftoff_openat2(parent.raw, name, flags | O_NOFOLLOW, mode, 0)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: name) }
    return OwnedDescriptor(fd)
  }

  /// chown of what `fd` names (an O_PATH descriptor will do).
  public static func chown(_ fd: OwnedDescriptor, uid: uid_t, gid: gid_t) throws(SystemCallError) {
    guard fchownat(fd.raw, "", uid, gid, 0x1000 /* AT_EMPTY_PATH */) == 0 else { throw SystemCallError("chown", errno: errno) }
  }

  /// The host's /dev/null as an O_PATH descriptor, checked through it to be the null device (char
  /// 1:3): the one source of masks, never a path inside a rootfs.
  public static func hostNullDevice() throws -> OwnedDescriptor {
    let fd = liftoff_open_mode("/dev/null", O_PATH | O_CLOEXEC | O_NOFOLLOW, 0)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: "/dev/null") }
    let d = OwnedDescriptor(fd)
    guard liftoff_fd_is_char_device(fd, 1, 3) != 0 else {
      throw LiftoffError(.internal, "the host's /dev/null is not the null device (char 1:3)")
    }
    return d
  }

  // MARK: beneath, without symlinks (a layer directory read as plain data)

  /// `relative` opened beneath the root with no symlink followed anywhere on the way.
  public func openBeneath(_ relative: String, flags: Int32 = O_PATH) throws(SystemCallError) -> OwnedDescriptor {
    let fd = liftoff_openat2(self.fd.raw, Self.relative(relative), flags | O_NOFOLLOW, 0, 2)
    guard fd >= 0 else { throw fail("open", relative) }
    return OwnedDescriptor(fd)
  }

  /// `relative` opened beneath the root, following symlinks that stay beneath it: a `..` above the
  /// root or an absolute symlink fails with EXDEV instead of being confined (Go's os.Root, which
  /// containerd resolves an image volume's sub path with, refuses the same).
  public func openStrictlyBeneath(_ relative: String, flags: Int32 = O_PATH) throws(SystemCallError) -> OwnedDescriptor {
    let fd = liftoff_openat2(self.fd.raw, relative.isEmpty ? "." : relative, flags, 0, 3)
    guard fd >= 0 else { throw fail("open", relative) }
    return OwnedDescriptor(fd)
  }

  /// The type (S_IFDIR, S_IFLNK, …) of `relative` beneath the root, no symlink followed; nil when absent
  /// or not reachable without following one.
  public func typeBeneath(_ relative: String) -> mode_t? {
    guard let d = try? openBeneath(relative) else { return nil }
    var st = stat()
    guard fstat(d.raw, &st) == 0 else { return nil }
    return st.st_mode & S_IFMT
  }

  public func existsBeneath(_ relative: String) -> Bool { typeBeneath(relative) != nil }

  /// Is `relative` an overlayfs whiteout (a 0:0 character device)?
  public func isWhiteoutBeneath(_ relative: String) -> Bool {
    guard let d = try? openBeneath(relative) else { return false }
    var st = stat()
    return fstat(d.raw, &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0
  }

  /// Does the directory `relative` carry overlayfs' opaque mark (trusted.overlay.opaque = y)?
  public func isOpaqueBeneath(_ relative: String) -> Bool {
    guard let d = try? openBeneath(relative, flags: O_RDONLY | O_DIRECTORY) else { return false }
    return liftoff_is_overlay_opaque(d.raw) != 0
  }

  /// The target of the symlink `relative` beneath the root (its parents followed as no symlink).
  public func readLinkBeneath(_ relative: String) -> String? {
    guard let d = try? openBeneath(relative) else { return nil }
    var buf = [CChar](repeating: 0, count: 4097)
    let n = readlinkat(d.raw, "", &buf, 4096)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  // MARK: mounts by descriptor

  /// Attaches a detached mount (`tree`: open_tree or fsmount) onto `target`.
  public static func attach(_ tree: OwnedDescriptor, onto target: OwnedDescriptor, what: String) throws(SystemCallError) {
    guard liftoff_move_mount(tree.raw, target.raw) == 0 else { throw SystemCallError("move_mount", errno: errno, path: what) }
  }

  /// A detached clone of the mount at `path` (a host path) — with the mounts below it when `recursive`.
  public static func clone(_ path: String, recursive: Bool) throws(SystemCallError) -> OwnedDescriptor {
    let fd = liftoff_open_tree(AT_FDCWD, path, recursive ? 1 : 0)
    guard fd >= 0 else { throw SystemCallError("open_tree", errno: errno, path: path) }
    return OwnedDescriptor(fd)
  }

  /// A detached clone of the mount (or file) that descriptor `fd` names.
  public static func clone(_ fd: OwnedDescriptor, recursive: Bool, what: String) throws(SystemCallError) -> OwnedDescriptor {
    let t = liftoff_open_tree(fd.raw, nil, recursive ? 1 : 0)
    guard t >= 0 else { throw SystemCallError("open_tree", errno: errno, path: what) }
    return OwnedDescriptor(t)
  }

  /// Sets (and clears) attributes of the mount `fd` names, and below it when `recursive`.
  public static func setAttributes(
    _ fd: OwnedDescriptor, _ set: MountAttributes, clear: MountAttributes = [], recursive: Bool, what: String
  ) throws(SystemCallError) {
    guard liftoff_mount_setattr_fd(fd.raw, recursive ? 1 : 0, set.rawValue, clear.rawValue, 0) == 0 else {
      throw SystemCallError("mount_setattr", errno: errno, path: what)
    }
  }

  /// Sets the propagation of the mount `fd` names (and below it when the propagation is recursive).
  public static func setPropagation(_ fd: OwnedDescriptor, _ p: AppMount.Propagation, what: String) throws(SystemCallError) {
    let flag: UInt64
    let recursive: Bool
    switch p {
    case .private, .rprivate: flag = UInt64(MS_PRIVATE)
    case .slave, .rslave: flag = UInt64(MS_SLAVE)
    case .shared, .rshared: flag = UInt64(MS_SHARED)
    }
    switch p {
    case .rprivate, .rslave, .rshared: recursive = true
    case .private, .slave, .shared: recursive = false
    }
    guard liftoff_mount_setattr_fd(fd.raw, recursive ? 1 : 0, 0, 0, flag) == 0 else {
      throw SystemCallError("mount_setattr (propagation)", errno: errno, path: what)
    }
  }

  /// A new detached filesystem: `type` with its comma-separated `options` (`mode=755,size=64k`,
  /// `newinstance`, …) and mount attributes.
  public static func newFilesystem(_ type: String, source: String? = nil, options: String = "", attributes: MountAttributes)
    throws(SystemCallError) -> OwnedDescriptor
  {
    var err = [CChar](repeating: 0, count: 512)
    let fd = liftoff_fsmount_new(type, source ?? type, options, attributes.rawValue, &err, err.count)
    guard fd >= 0 else {
      let e = errno
      let detail = String(cString: err)
      throw SystemCallError("mount \(type)" + (detail.isEmpty ? "" : " (\(detail))") + " with \"\(options)\"", errno: e)
    }
    return OwnedDescriptor(fd)
  }

  /// Mounts a new filesystem on the directory `p` inside the root (made if missing).
  public func mountFilesystem(_ type: String, at p: String, source: String? = nil, options: String = "", attributes: MountAttributes)
    throws(SystemCallError)
  {
    let target = try makeDirectories(p)
    let fs = try Self.newFilesystem(type, source: source, options: options, attributes: attributes)
    try Self.attach(fs, onto: target, what: FileSystem.join(path, p))
  }

  /// Binds the host path `source` onto `p` inside the root (made as a directory or a file to match),
  /// recursively; `readOnly` on the top mount, or on every mount below too with `recursiveReadOnly`.
  /// Returns the descriptor of the new mount (for its propagation).
  @discardableResult
  public func bind(_ source: String, at p: String, readOnly: Bool = false, recursiveReadOnly: Bool = false)
    throws(SystemCallError) -> OwnedDescriptor
  {
    var st = stat()
    guard stat(source, &st) == 0 else { throw SystemCallError("stat", errno: errno, path: source) }
    let target = try makeMountPoint(p, directory: (st.st_mode & S_IFMT) == S_IFDIR)
    let tree = try Self.clone(source, recursive: true)
    if readOnly || recursiveReadOnly {
      try Self.setAttributes(tree, .readOnly, recursive: recursiveReadOnly, what: source)
    }
    try Self.attach(tree, onto: target, what: FileSystem.join(path, p))
    return tree
  }

  /// Makes what `p` resolves to read-only (a recursive read-only bind of it onto itself); a no-op
  /// when nothing is there.
  public func makeReadOnly(_ p: String) throws(SystemCallError) {
    guard let target = try openIfPresent(p) else { return }
    let what = FileSystem.join(path, p)
    let tree = try Self.clone(target, recursive: true, what: what)
    try Self.setAttributes(tree, .readOnly, recursive: true, what: what)
    try Self.attach(tree, onto: target, what: what)
  }
}
