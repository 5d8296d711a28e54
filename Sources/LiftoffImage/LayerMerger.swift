// Renders an image's layers (overlayfs lower dirs, lowest first) into one plain directory tree, the
// way overlayfs would show them: a 0:0 character device hides the lower entry, a directory with
// trusted.overlay.opaque=y hides the lower directory's contents. Used by `image render|extract`
// and the ACI exporter. Hardlinks within one layer stay hardlinks.
import CArchive
import Foundation
import LiftoffCore
import LiftoffOS

#if canImport(Glibc)
  import Glibc
#endif

enum LayerMerger {
  /// Merges `layers` into `target` (an existing, empty directory).
  static func merge(_ layers: [String], into target: String) throws {
    for layer in layers {
      var links: [UInt64: String] = [:]
      try copyDirectory(layer, target, links: &links)
      try copyMetadata(from: layer, to: target, isLink: false)
    }
  }

  static func lst(_ p: String) -> stat? {
    var st = stat()
    return lstat(p, &st) == 0 ? st : nil
  }

  static func copyDirectory(_ src: String, _ dst: String, links: inout [UInt64: String]) throws {
    for name in FileSystem.list(src) {
      let s = "\(src)/\(name)", d = "\(dst)/\(name)"
      guard let st = lst(s) else { continue }
      let kind = st.st_mode & S_IFMT
      let existing = lst(d)
      if kind == S_IFCHR && st.st_rdev == 0 {
        try FileSystem.removeTree(d)  // whiteout
        continue
      }
      if kind == S_IFDIR {
        let opaque = xattrValue(s, "trusted.overlay.opaque") == "y"
        if let e = existing, (e.st_mode & S_IFMT) != S_IFDIR || opaque { try FileSystem.removeTree(d) }
        if lst(d) == nil && mkdir(d, 0o700) != 0 { throw SystemCallError("mkdir", errno: errno, path: d) }
        try copyDirectory(s, d, links: &links)
        try copyMetadata(from: s, to: d, isLink: false)
        continue
      }
      if existing != nil { try FileSystem.removeTree(d) }
      switch kind {
      case S_IFREG:
        if st.st_nlink > 1, let first = links[UInt64(st.st_ino)] {
          if link(first, d) != 0 { throw SystemCallError("link", errno: errno, path: d) }
          continue
        }
        try copyFile(s, d)
        if st.st_nlink > 1 { links[UInt64(st.st_ino)] = d }
        try copyMetadata(from: s, to: d, isLink: false)
      case S_IFLNK:
        var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(s, &buf, buf.count - 1)
        guard n >= 0 else { throw SystemCallError("readlink", errno: errno, path: s) }
        buf[n] = 0
        if symlink(buf, d) != 0 { throw SystemCallError("symlink", errno: errno, path: d) }
        try copyMetadata(from: s, to: d, isLink: true)
      default:
        if mknod(d, st.st_mode, st.st_rdev) != 0 { throw SystemCallError("mknod", errno: errno, path: d) }
        try copyMetadata(from: s, to: d, isLink: false)
      }
    }
  }

  static func copyFile(_ s: String, _ d: String) throws {
    let i = open(s, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
    guard i >= 0 else { throw SystemCallError("open", errno: errno, path: s) }
    defer { close(i) }
    let o = open(d, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
    guard o >= 0 else { throw SystemCallError("open", errno: errno, path: d) }
    defer { close(o) }
    var buf = [UInt8](repeating: 0, count: 1 << 17)
    while true {
      let n = read(i, &buf, buf.count)
      if n < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("read", errno: errno, path: s)
      }
      if n == 0 { break }
      try buf.withUnsafeBytes { try LiftoffOS.FileSystem.writeAll(o, UnsafeRawBufferPointer(rebasing: $0[0..<n]), path: d) }
    }
  }

  static func copyMetadata(from s: String, to d: String, isLink: Bool) throws {
    guard let st = lst(s) else { return }
    if lchown(d, st.st_uid, st.st_gid) != 0 && geteuid() == 0 { throw SystemCallError("lchown", errno: errno, path: d) }
    if !isLink && chmod(d, st.st_mode & 0o7777) != 0 { throw SystemCallError("chmod", errno: errno, path: d) }
    if !isLink {
      for name in ["security.capability", "user.liftoff"] + userXattrs(s) {
        var buf = [UInt8](repeating: 0, count: 4096)
        let n = lgetxattr(s, name, &buf, buf.count)
        if n >= 0 { _ = lsetxattr(d, name, buf, n, 0) }
      }
    }
    var times = [st.st_atim, st.st_mtim]
    utimensat(AT_FDCWD, d, &times, AT_SYMLINK_NOFOLLOW)
  }

  static func userXattrs(_ p: String) -> [String] {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = llistxattr(p, &buf, buf.count)
    guard n > 0 else { return [] }
    return buf[0..<n].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
      .filter { $0.hasPrefix("user.") }
  }

  static func xattrValue(_ p: String, _ name: String) -> String? {
    var buf = [UInt8](repeating: 0, count: 64)
    let n = lgetxattr(p, name, &buf, buf.count)
    return n >= 0 ? String(decoding: buf[0..<n], as: UTF8.self) : nil
  }
}

extension ImageStore {
  /// Writes the image's merged rootfs to `target` (rootfsOnly), or `target/rootfs` plus its config
  /// as `target/manifest` (rkt's `image extract` shape). `target` must be missing or empty.
  public func extract(_ nameOrID: String, to target: String, rootfsOnly: Bool) throws {
    let img = try resolve(nameOrID)
    if FileSystem.exists(target) {
      guard FileSystem.isDirectory(target), FileSystem.list(target).isEmpty else {
        throw LiftoffError(.alreadyExists, "\(target) exists and is not an empty directory")
      }
    } else {
      try FileSystem.makeDirectories(target, mode: 0o755)
    }
    let rootfs = rootfsOnly ? target : target + "/rootfs"
    if !rootfsOnly { try FileSystem.makeDirectories(rootfs, mode: 0o755) }
    try LayerMerger.merge(img.layerDirs, into: rootfs)
    if !rootfsOnly {
      try LiftoffOS.FileSystem.writeAtomically(target + "/manifest", try content.read(try Digest(img.id)), mode: 0o644)
    }
  }
}
