// One owner for a libarchive write handle: pax tar, optionally gzip-compressed, to a file.
import CArchive
import Foundation
import LiftoffCore

#if canImport(Glibc)
  import Glibc
#endif

final class ArchiveWriter {
  let handle: OpaquePointer
  let path: String
  private var closed = false

  init(path: String, gzip: Bool) throws {
    guard let a = archive_write_new() else { throw LiftoffError.internal("archive_write_new failed") }
    handle = a
    self.path = path
    archive_write_set_format_pax_restricted(a)
    if gzip { archive_write_add_filter_gzip(a) } else { archive_write_add_filter_none(a) }
    archive_write_set_bytes_in_last_block(a, 1)
    try check(archive_write_open_filename(a, path), "open")
  }

  func check(_ r: Int32, _ op: String) throws {
    if r == ARCHIVE_OK || r == ARCHIVE_WARN { return }
    let msg = archive_error_string(handle).map { String(cString: $0) } ?? "unknown error"
    throw LiftoffError.internal("write \(path): \(op): \(msg)")
  }

  /// Writes an entry: header from `st` (lstat of `source` when given), then the file's content.
  func add(path name: String, stat st: stat?, source: String?, symlink: String? = nil, hardlink: String? = nil, data: Data? = nil, mode: mode_t = 0o644) throws {
    guard let e = archive_entry_new() else { throw LiftoffError.internal("archive_entry_new failed") }
    defer { archive_entry_free(e) }
    if var st {
      archive_entry_copy_stat(e, &st)
    } else {
      archive_entry_set_filetype(e, Glibc.S_IFREG)
      archive_entry_set_perm(e, mode)
      archive_entry_set_mtime(e, 0, 0)
    }
    archive_entry_set_pathname(e, name)
    if let symlink { archive_entry_set_symlink(e, symlink) }
    if let hardlink {
      archive_entry_set_hardlink(e, hardlink)
      archive_entry_set_size(e, 0)
    }
    if let data { archive_entry_set_size(e, Int64(data.count)) }
    if let source, hardlink == nil {
      for n in LayerMerger.userXattrs(source) + ["security.capability"] {
        var buf = [UInt8](repeating: 0, count: 4096)
        let len = lgetxattr(source, n, &buf, buf.count)
        if len >= 0 { archive_entry_xattr_add_entry(e, n, buf, len) }
      }
    }
    try check(archive_write_header(handle, e), "header \(name)")
    if let data {
      _ = data.withUnsafeBytes { archive_write_data(handle, $0.baseAddress, $0.count) }
    } else if let source, hardlink == nil, let st, (st.st_mode & S_IFMT) == S_IFREG {
      let fd = open(source, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
      guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: source) }
      defer { Glibc.close(fd) }
      var buf = [UInt8](repeating: 0, count: 1 << 20)
      while true {
        let n = read(fd, &buf, buf.count)
        if n < 0 {
          if errno == EINTR { continue }
          throw SystemCallError("read", errno: errno, path: source)
        }
        if n == 0 { break }
        let w = buf.withUnsafeBytes { archive_write_data(handle, $0.baseAddress, n) }
        if w < 0 { try check(Int32(w), "data \(name)") }
      }
    }
  }

  /// Adds the tree under `dir` with entry names prefixed by `prefix` (e.g. "rootfs/"); hardlinks
  /// are kept. The directory itself is written as `prefix` when it is not empty.
  func addTree(_ dir: String, prefix: String) throws {
    var links: [UInt64: String] = [:]
    var st = stat()
    if !prefix.isEmpty, lstat(dir, &st) == 0 { try add(path: prefix, stat: st, source: dir) }
    func walk(_ rel: String) throws {
      for n in FileSystem.list(rel.isEmpty ? dir : "\(dir)/\(rel)") {
        let r = rel.isEmpty ? n : "\(rel)/\(n)"
        let full = "\(dir)/\(r)"
        var st = stat()
        guard lstat(full, &st) == 0 else { continue }
        let kind = st.st_mode & S_IFMT
        let name = prefix + r
        if kind == S_IFLNK {
          var buf = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
          let len = readlink(full, &buf, buf.count - 1)
          guard len >= 0 else { throw SystemCallError("readlink", errno: errno, path: full) }
          buf[len] = 0
          try add(path: name, stat: st, source: full, symlink: String(cString: buf))
        } else if kind == S_IFREG && st.st_nlink > 1, let first = links[UInt64(st.st_ino)] {
          try add(path: name, stat: st, source: full, hardlink: first)
        } else {
          if kind == S_IFREG && st.st_nlink > 1 { links[UInt64(st.st_ino)] = name }
          try add(path: kind == S_IFDIR ? name + "/" : name, stat: st, source: full)
          if kind == S_IFDIR { try walk(r) }
        }
      }
    }
    try walk("")
  }

  func close() throws {
    guard !closed else { return }
    closed = true
    try check(archive_write_close(handle), "close")
  }

  deinit {
    if !closed { archive_write_close(handle) }
    archive_write_free(handle)
  }
}
