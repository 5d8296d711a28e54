// Unpacks one image layer (tar, gzip- or zstd-compressed) into an empty directory that becomes an
// overlayfs lower dir: OCI whiteouts turn into overlayfs whiteouts, the way containerd's overlay
// snapshotter stores them —
//   `.wh.NAME`      → a 0:0 character device NAME
//   `.wh..wh..opq`  → xattr trusted.overlay.opaque=y on its directory
// Spec: OCI image-spec v1.1 layer.md (whiteouts), overlayfs.rst (whiteouts and opaque directories).
//
// Safety: every path is resolved component by component from a directory fd with O_NOFOLLOW, so no
// entry can create, follow or link anything outside the root: `..` components and absolute paths are
// refused outright, a symlink (or non-directory) in a parent component is refused, hardlink targets
// are resolved the same way, and an existing entry is unlinked (never opened) before being replaced,
// so "symlink, then write through it" writes nothing outside. Refusals name the layer and the entry.
//
// Size: with a budget (UnpackLimits.swift) every entry, and every regular file's declared size
// before a byte of it is written, is charged to the image's budget; over it, the unpack fails and
// the caller removes the half-made tree.
import CArchive
import LiftoffCore
import LiftoffOS

#if canImport(Glibc)
  import Glibc
#endif

public struct UnpackStats: Sendable {
  public var entries = 0
  public var bytes: Int64 = 0
}

public struct LayerUnpacker {
  /// The layer's name in errors (its digest).
  let layer: String
  let rootFD: Int32
  /// This layer's account with the image's unpack budget; nil for no limit.
  let budget: UnpackBudget.Account?
  let isRoot = geteuid() == 0

  /// Unpacks the tar at `archivePath` into `root` (an existing, empty directory).
  static func unpack(archivePath: String, into root: String, layer: String, budget: UnpackBudget.Account?) throws -> UnpackStats {
    let reader = try ArchiveReader(what: "layer \(layer)")
    try reader.open(path: archivePath)
    return try unpack(reader: reader, into: root, layer: layer, budget: budget)
  }

  /// Unpacks a tar stream read from `fd`.
  static func unpack(fd: Int32, into root: String, layer: String, budget: UnpackBudget.Account?) throws -> UnpackStats {
    let reader = try ArchiveReader(what: "layer \(layer)")
    try reader.open(fd: fd)
    return try unpack(reader: reader, into: root, layer: layer, budget: budget)
  }

  /// Unpacks without limits (tests, and callers that bound the input otherwise).
  public static func unpack(archivePath: String, into root: String, layer: String) throws -> UnpackStats {
    try unpack(archivePath: archivePath, into: root, layer: layer, budget: nil)
  }

  static func unpack(reader: ArchiveReader, into root: String, layer: String, budget: UnpackBudget.Account?) throws -> UnpackStats {
    let fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: root) }
    defer { close(fd) }
    let u = LayerUnpacker(layer: layer, rootFD: fd, budget: budget)
    return try u.run(reader)
  }

  struct DeferredDir {
    var path: [String]
    var uid: uid_t, gid: gid_t, mode: mode_t
    var mtime: timespec, atime: timespec
    var xattrs: [(String, [UInt8])]
  }

  func refuse(_ entry: String, _ why: String) -> LiftoffError {
    LiftoffError.invalidArgument("layer \(layer): entry \"\(entry)\": \(why)")
  }

  /// Splits a tar path into safe components: `./` and empty components dropped; absolute paths and
  /// `..` refused.
  func components(_ raw: String, entry: String) throws -> [String] {
    if raw.hasPrefix("/") { throw refuse(entry, "absolute path") }
    var out: [String] = []
    for c in raw.split(separator: "/", omittingEmptySubsequences: true) {
      if c == "." { continue }
      if c == ".." { throw refuse(entry, "path with a \"..\" component") }
      out.append(String(c))
    }
    return out
  }

  /// Opens the directory `path` below the root, creating missing directories (0755, root-owned) and
  /// refusing any component that is a symlink or not a directory. The caller closes the fd.
  func openDirectory(_ path: ArraySlice<String>, entry: String, create: Bool) throws -> Int32 {
    var fd = dup(rootFD)
    guard fd >= 0 else { throw SystemCallError("dup", errno: errno) }
    for c in path {
      var next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
      if next < 0 && errno == ENOENT && create {
        if mkdirat(fd, c, 0o755) != 0 && errno != EEXIST {
          let e = errno
          close(fd)
          throw refuse(entry, "mkdir \(c): \(errnoDescription(e))")
        }
        next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
      }
      if next < 0 {
        let e = errno
        close(fd)
        if e == ELOOP || e == ENOTDIR {
          throw refuse(entry, "parent component \"\(c)\" is a symlink or not a directory")
        }
        throw refuse(entry, "open \(c): \(errnoDescription(e))")
      }
      close(fd)
      fd = next
    }
    return fd
  }

  /// Removes whatever is at `name` in `dirfd` unless both it and the new entry are directories.
  /// Returns true when an existing directory is kept.
  func clear(_ dirfd: Int32, _ name: String, keepDirectory: Bool, entry: String) throws -> Bool {
    var st = stat()
    guard fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return false }
    if keepDirectory && (st.st_mode & S_IFMT) == S_IFDIR { return true }
    try FileSystem.removeEntry(dirfd, name, pathForErrors: entry)
    return false
  }

  func run(_ reader: ArchiveReader) throws -> UnpackStats {
    var stats = UnpackStats()
    var deferred: [DeferredDir] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 1)
    defer { buffer.deallocate() }

    while let e = try reader.next() {
      FailPoint.hit(.imageUnpackEntry)
      stats.entries += 1
      guard let cpath = archive_entry_pathname(e) else { throw refuse("?", "entry without a path") }
      let entry = String(cString: cpath)
      let comps = try components(entry, entry: entry)
      let type = archive_entry_filetype(e)
      try budget?.charge(entries: 1, layer: layer, entry: entry)

      if comps.isEmpty {
        // The layer root itself ("./"): only its metadata.
        if type == S_IFDIR {
          deferred.append(dirMetadata(e, path: []))
        }
        continue
      }
      let name = comps.last!
      let parentPath = comps.dropLast()

      // Whiteouts.
      if name.hasPrefix(".wh.") {
        let dirfd = try openDirectory(parentPath, entry: entry, create: true)
        defer { close(dirfd) }
        if name == ".wh..wh..opq" {
          let y: [UInt8] = [UInt8(ascii: "y")]
          if fsetxattr(dirfd, "trusted.overlay.opaque", y, 1, 0) != 0 {
            throw refuse(entry, "set opaque xattr: \(errnoDescription(errno))")
          }
        } else if name.hasPrefix(".wh..wh.") {
          // Other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): ignored, as Docker does.
        } else {
          let target = String(name.dropFirst(4))
          if target.isEmpty || target == "." || target == ".." { throw refuse(entry, "invalid whiteout name") }
          _ = try clear(dirfd, target, keepDirectory: false, entry: entry)
          if mknodat(dirfd, target, S_IFCHR | 0o000, 0) != 0 {
            throw refuse(entry, "create whiteout: \(errnoDescription(errno))")
          }
        }
        continue
      }

      let dirfd = try openDirectory(parentPath, entry: entry, create: true)
      defer { close(dirfd) }

      // Hardlinks (a tar hardlink entry carries the target in `hardlink`).
      if let hl = archive_entry_hardlink(e) {
        let targetRaw = String(cString: hl)
        let t = try components(targetRaw, entry: entry)
        guard let tname = t.last else { throw refuse(entry, "hardlink to the layer root") }
        let tdir = try openDirectory(t.dropLast(), entry: entry, create: false)
        defer { close(tdir) }
        var st = stat()
        guard fstatat(tdir, tname, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
          throw refuse(entry, "hardlink target \"\(targetRaw)\" does not exist in the layer")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR { throw refuse(entry, "hardlink to a directory") }
        if t == comps { continue }
        _ = try clear(dirfd, name, keepDirectory: false, entry: entry)
        if linkat(tdir, tname, dirfd, name, 0) != 0 {
          throw refuse(entry, "link to \"\(targetRaw)\": \(errnoDescription(errno))")
        }
        continue
      }

      let uid = uid_t(truncatingIfNeeded: archive_entry_uid(e))
      let gid = gid_t(truncatingIfNeeded: archive_entry_gid(e))
      let mode = archive_entry_perm(e) & 0o7777

      switch type {
      case S_IFDIR:
        let kept = try clear(dirfd, name, keepDirectory: true, entry: entry)
        if !kept && mkdirat(dirfd, name, 0o700) != 0 {
          throw refuse(entry, "mkdir: \(errnoDescription(errno))")
        }
        deferred.append(dirMetadata(e, path: comps))

      case S_IFREG:
        _ = try clear(dirfd, name, keepDirectory: false, entry: entry)
        let fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw refuse(entry, "create: \(errnoDescription(errno))") }
        defer { close(fd) }
        let size = archive_entry_size(e)
        // Charged before a byte is written: a bomb's one huge file fails here, on its header.
        var charged = max(0, size)
        try budget?.charge(bytes: charged, layer: layer, entry: entry)
        var end: Int64 = 0
        while true {
          var block: UnsafeRawPointer?
          var len = 0
          var offset: la_int64_t = 0
          let r = archive_read_data_block(reader.handle, &block, &len, &offset)
          if r == ARCHIVE_EOF { break }
          if r != ARCHIVE_OK && r != ARCHIVE_WARN { throw refuse(entry, "read data: \(reader.errorString)") }
          guard let block, len > 0 else { continue }
          if offset + Int64(len) > charged {
            // More data than the header declared (a sparse map that says otherwise): charged too.
            try budget?.charge(bytes: offset + Int64(len) - charged, layer: layer, entry: entry)
            charged = offset + Int64(len)
          }
          var done = 0
          while done < len {
            let n = pwrite(fd, block + done, len - done, off_t(offset) + off_t(done))
            if n < 0 {
              if errno == EINTR { continue }
              throw refuse(entry, "write: \(errnoDescription(errno))")
            }
            done += n
          }
          end = max(end, offset + Int64(len))
          stats.bytes += Int64(len)
        }
        if size > end && ftruncate(fd, off_t(size)) != 0 {
          throw refuse(entry, "truncate: \(errnoDescription(errno))")
        }
        try setOwner(fd: fd, uid: uid, gid: gid, entry: entry)
        if fchmod(fd, mode) != 0 { throw refuse(entry, "chmod: \(errnoDescription(errno))") }
        try setXattrs(fd: fd, xattrs(e), entry: entry)
        var times = [timespec(tv_sec: Int(archive_entry_atime(e)), tv_nsec: Int(archive_entry_atime_nsec(e))),
                     timespec(tv_sec: Int(archive_entry_mtime(e)), tv_nsec: Int(archive_entry_mtime_nsec(e)))]
        if archive_entry_atime_is_set(e) == 0 { times[0] = times[1] }
        futimens(fd, &times)

      case S_IFLNK:
        guard let ct = archive_entry_symlink(e) else { throw refuse(entry, "symlink without a target") }
        _ = try clear(dirfd, name, keepDirectory: false, entry: entry)
        if symlinkat(ct, dirfd, name) != 0 { throw refuse(entry, "symlink: \(errnoDescription(errno))") }
        if fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && isRoot {
          throw refuse(entry, "chown: \(errnoDescription(errno))")
        }
        var times = [timespec(tv_sec: Int(archive_entry_mtime(e)), tv_nsec: Int(archive_entry_mtime_nsec(e))),
                     timespec(tv_sec: Int(archive_entry_mtime(e)), tv_nsec: Int(archive_entry_mtime_nsec(e)))]
        utimensat(dirfd, name, &times, AT_SYMLINK_NOFOLLOW)

      case S_IFCHR, S_IFBLK, S_IFIFO:
        _ = try clear(dirfd, name, keepDirectory: false, entry: entry)
        let dev = LayerUnpacker.makedev(UInt64(archive_entry_rdevmajor(e)), UInt64(archive_entry_rdevminor(e)))
        if mknodat(dirfd, name, type | mode, dev_t(dev)) != 0 {
          throw refuse(entry, "mknod: \(errnoDescription(errno))")
        }
        if fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && isRoot {
          throw refuse(entry, "chown: \(errnoDescription(errno))")
        }
        if fchmodat(dirfd, name, mode, 0) != 0 { throw refuse(entry, "chmod: \(errnoDescription(errno))") }
        var times = [timespec(tv_sec: Int(archive_entry_mtime(e)), tv_nsec: Int(archive_entry_mtime_nsec(e))),
                     timespec(tv_sec: Int(archive_entry_mtime(e)), tv_nsec: Int(archive_entry_mtime_nsec(e)))]
        utimensat(dirfd, name, &times, AT_SYMLINK_NOFOLLOW)

      default:
        throw refuse(entry, "unsupported entry type 0o\(String(type, radix: 8))")
      }
    }

    // Directory metadata last, deepest first, so read-only directories can still be filled and
    // their mtimes are not disturbed by what was written inside them.
    for d in deferred.sorted(by: { $0.path.count > $1.path.count }) {
      let entry = d.path.isEmpty ? "./" : d.path.joined(separator: "/")
      let fd = try openDirectory(d.path[...], entry: entry, create: false)
      defer { close(fd) }
      try setOwner(fd: fd, uid: d.uid, gid: d.gid, entry: entry)
      if fchmod(fd, d.mode) != 0 { throw refuse(entry, "chmod: \(errnoDescription(errno))") }
      try setXattrs(fd: fd, d.xattrs, entry: entry)
      var times = [d.atime, d.mtime]
      futimens(fd, &times)
    }
    return stats
  }

  func dirMetadata(_ e: OpaquePointer, path: [String]) -> DeferredDir {
    let m = timespec(tv_sec: Int(archive_entry_mtime(e)), tv_nsec: Int(archive_entry_mtime_nsec(e)))
    return DeferredDir(
      path: path, uid: uid_t(truncatingIfNeeded: archive_entry_uid(e)), gid: gid_t(truncatingIfNeeded: archive_entry_gid(e)),
      mode: archive_entry_perm(e) & 0o7777, mtime: m, atime: m, xattrs: xattrs(e))
  }

  func setOwner(fd: Int32, uid: uid_t, gid: gid_t, entry: String) throws {
    if fchown(fd, uid, gid) != 0 && isRoot { throw refuse(entry, "chown: \(errnoDescription(errno))") }
  }

  /// The entry's extended attributes that a layer may carry: `user.*` and `security.capability`.
  /// `trusted.*` (overlayfs' own, which could forge whiteouts) and others are dropped.
  func xattrs(_ e: OpaquePointer) -> [(String, [UInt8])] {
    var out: [(String, [UInt8])] = []
    guard archive_entry_xattr_reset(e) > 0 else { return out }
    var name: UnsafePointer<CChar>?
    var value: UnsafeRawPointer?
    var size = 0
    while archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK {
      guard let name else { continue }
      let n = String(cString: name)
      guard n.hasPrefix("user.") || n == "security.capability" else { continue }
      let v = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
      out.append((n, v))
    }
    return out
  }

  func setXattrs(fd: Int32, _ xs: [(String, [UInt8])], entry: String) throws {
    for (n, v) in xs {
      let r = v.withUnsafeBytes { fsetxattr(fd, n, $0.baseAddress, v.count, 0) }
      if r != 0 && errno != ENOTSUP { throw refuse(entry, "set xattr \(n): \(errnoDescription(errno))") }
    }
  }

  static func makedev(_ major: UInt64, _ minor: UInt64) -> UInt64 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12) | ((major & ~0xfff) << 32)
  }
}
