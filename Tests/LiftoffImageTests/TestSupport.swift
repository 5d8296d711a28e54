// Helpers for LiftoffImage tests: temp directories, tar layers written with libarchive (so hostile
// entries can be made exactly as an attacker would), and the test registry environment.
import CArchive
import Foundation
import LiftoffCore
import LiftoffTestSupport
import Testing

@testable import LiftoffImage

#if canImport(Glibc)
  import Glibc
#endif

/// A unique temporary directory, removed by `cleanup()`.
final class TempDir: @unchecked Sendable {
  let path: String
  init(_ tag: String = "img") {
    var template = Array("/tmp/liftoff-test-\(tag)-XXXXXX".utf8CString)
    let p = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    path = String(cString: p!)
  }
  func cleanup() { try? FileSystem.removeTree(path) }
  func sub(_ name: String) -> String {
    let p = "\(path)/\(name)"
    mkdir(p, 0o755)
    return p
  }
}

/// One tar entry for `TarWriter`.
enum TarEntry {
  case dir(String, mode: mode_t = 0o755, uid: Int = 0, gid: Int = 0)
  case file(String, String, mode: mode_t = 0o644, uid: Int = 0, gid: Int = 0, xattrs: [String: String] = [:])
  case symlink(String, to: String)
  case hardlink(String, to: String)
  case fifo(String, mode: mode_t = 0o600)
  case charDevice(String, major: UInt32, minor: UInt32)
  /// A regular file of `size` zero bytes, written in 1 MiB blocks (a decompression bomb's payload).
  case zeros(String, size: Int64)
}

enum TarWriter {
  /// Writes a pax tar of `entries` (gzip-compressed unless `compression` says otherwise) to `path`.
  static func write(_ entries: [TarEntry], to path: String, compression: LayerCompression = .gzip) throws {
    let a = archive_write_new()!
    defer { archive_write_free(a) }
    archive_write_set_format_pax_restricted(a)
    switch compression {
    case .gzip: archive_write_add_filter_gzip(a)
    case .zstd: archive_write_add_filter_zstd(a)
    case .none: archive_write_add_filter_none(a)
    }
    guard archive_write_open_filename(a, path) == ARCHIVE_OK else {
      throw LiftoffError.internal("tar open: \(String(cString: archive_error_string(a)))")
    }
    for e in entries {
      let en = archive_entry_new()!
      defer { archive_entry_free(en) }
      archive_entry_set_mtime(en, 1_700_000_000, 0)
      var data = Data()
      switch e {
      case .dir(let p, let mode, let uid, let gid):
        archive_entry_set_pathname(en, p)
        archive_entry_set_filetype(en, Glibc.S_IFDIR)
        archive_entry_set_perm(en, mode)
        archive_entry_set_uid(en, Int64(uid))
        archive_entry_set_gid(en, Int64(gid))
      case .file(let p, let content, let mode, let uid, let gid, let xattrs):
        data = Data(content.utf8)
        archive_entry_set_pathname(en, p)
        archive_entry_set_filetype(en, Glibc.S_IFREG)
        archive_entry_set_perm(en, mode)
        archive_entry_set_uid(en, Int64(uid))
        archive_entry_set_gid(en, Int64(gid))
        archive_entry_set_size(en, Int64(data.count))
        for (k, v) in xattrs { archive_entry_xattr_add_entry(en, k, v, v.utf8.count) }
      case .symlink(let p, let target):
        archive_entry_set_pathname(en, p)
        archive_entry_set_filetype(en, Glibc.S_IFLNK)
        archive_entry_set_perm(en, 0o777)
        archive_entry_set_symlink(en, target)
      case .hardlink(let p, let target):
        archive_entry_set_pathname(en, p)
        archive_entry_set_filetype(en, Glibc.S_IFREG)
        archive_entry_set_perm(en, 0o644)
        archive_entry_set_hardlink(en, target)
        archive_entry_set_size(en, 0)
      case .fifo(let p, let mode):
        archive_entry_set_pathname(en, p)
        archive_entry_set_filetype(en, Glibc.S_IFIFO)
        archive_entry_set_perm(en, mode)
      case .zeros(let p, let size):
        archive_entry_set_pathname(en, p)
        archive_entry_set_filetype(en, Glibc.S_IFREG)
        archive_entry_set_perm(en, 0o644)
        archive_entry_set_size(en, size)
      case .charDevice(let p, let major, let minor):
        archive_entry_set_pathname(en, p)
        archive_entry_set_filetype(en, Glibc.S_IFCHR)
        archive_entry_set_perm(en, 0o600)
        archive_entry_set_rdevmajor(en, dev_t(major))
        archive_entry_set_rdevminor(en, dev_t(minor))
      }
      guard archive_write_header(a, en) == ARCHIVE_OK else {
        throw LiftoffError.internal("tar header: \(String(cString: archive_error_string(a)))")
      }
      if !data.isEmpty {
        _ = data.withUnsafeBytes { archive_write_data(a, $0.baseAddress, $0.count) }
      }
      if case .zeros(_, let size) = e {
        let block = [UInt8](repeating: 0, count: 1 << 20)
        var left = size
        while left > 0 {
          let n = Int(min(left, Int64(block.count)))
          _ = block.withUnsafeBytes { archive_write_data(a, $0.baseAddress, n) }
          left -= Int64(n)
        }
      }
    }
    archive_write_close(a)
  }
}

/// Everything under `root` as "relative path → description", for comparing trees.
func snapshot(_ root: String) -> [String: String] {
  var out: [String: String] = [:]
  func walk(_ rel: String) {
    let full = rel.isEmpty ? root : "\(root)/\(rel)"
    var st = stat()
    guard lstat(full, &st) == 0 else { return }
    let kind = st.st_mode & S_IFMT
    var desc = "mode=\(String(st.st_mode & 0o7777, radix: 8)) uid=\(st.st_uid) gid=\(st.st_gid)"
    switch kind {
    case S_IFDIR:
      desc = "dir " + desc
    case S_IFREG:
      let c = (try? String(contentsOfFile: full, encoding: .utf8)) ?? "<binary>"
      desc = "file " + desc + " nlink=\(st.st_nlink) content=\(c.count > 40 ? "<\(st.st_size) bytes>" : c)"
    case S_IFLNK:
      var buf = [CChar](repeating: 0, count: 4096)
      let n = readlink(full, &buf, 4095)
      desc = "symlink -> " + String(decoding: buf[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    case S_IFCHR:
      desc = "chr \(st.st_rdev)"
    case S_IFIFO:
      desc = "fifo " + desc
    default:
      desc = "other"
    }
    if !rel.isEmpty { out[rel] = desc }
    if kind == S_IFDIR {
      for n in FileSystem.list(full) { walk(rel.isEmpty ? n : "\(rel)/\(n)") }
    }
  }
  walk("")
  return out
}

func xattr(_ path: String, _ name: String) -> String? {
  var buf = [UInt8](repeating: 0, count: 256)
  let n = lgetxattr(path, name, &buf, buf.count)
  guard n >= 0 else { return nil }
  return String(decoding: buf[0..<n], as: UTF8.self)
}

/// The registries `hack/test-env.sh start` runs (read through `TestEnvironment`). Tests that use them
/// say `@Test(.needsRegistry)`: skipped without them, except in CI, where `load()` fails the test.
struct TestRegistry {
  let plain: String
  let mirror: String
  let tls: String
  let tlsCA: String
  let user: String
  let password: String
  /// The bearer-token front (hack/token-registry.py).
  let token: String

  static func load(sourceLocation: SourceLocation = #_sourceLocation) throws -> TestRegistry {
    let plain = try TestEnvironment.requireRegistry(sourceLocation: sourceLocation)
    let env = TestEnvironment.variables
    return TestRegistry(
      plain: plain, mirror: env["LIFTOFF_TEST_MIRROR"] ?? "127.0.0.1:5001", tls: env["LIFTOFF_TEST_TLS_REGISTRY"] ?? "127.0.0.1:5443",
      tlsCA: env["LIFTOFF_TEST_TLS_CA"] ?? "/run/liftoff-test/tls/ca.crt", user: env["LIFTOFF_TEST_TLS_USER"] ?? "liftoff",
      password: env["LIFTOFF_TEST_TLS_PASSWORD"] ?? "", token: env["LIFTOFF_TEST_TOKEN_REGISTRY"] ?? "127.0.0.1:5002")
  }
}
