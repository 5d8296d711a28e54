// Crash-safe file writes: a temporary name in the same directory, fsync, rename over the target,
// fsync of the directory. A SIGKILL at any instant leaves the old file or the new one, never a torn one.
import Foundation
import Glibc
import LiftoffCore

enum AtomicFile {
  /// `durable: false` skips both fsyncs (still a rename, so readers never see a torn file): for
  /// files that matter only while their pod runs, which a machine crash ends anyway.
  static func write(_ data: Data, to path: String, mode: mode_t = 0o644, durable: Bool = true) throws {
    let dir = (path as NSString).deletingLastPathComponent
    let tmp = dir + "/." + (path as NSString).lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: tmp) }
    var ok = false
    defer {
      if !ok { unlink(tmp) }
    }
    do {
      defer { close(fd) }
      try data.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
          let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
          if n < 0 {
            if errno == EINTR { continue }
            throw SystemCallError("write", errno: errno, path: tmp)
          }
          off += n
        }
      }
      guard fchmod(fd, mode) == 0 else { throw SystemCallError("fchmod", errno: errno, path: tmp) }
      guard !durable || fsync(fd) == 0 else { throw SystemCallError("fsync", errno: errno, path: tmp) }
    }
    guard rename(tmp, path) == 0 else { throw SystemCallError("rename", errno: errno, path: path) }
    ok = true
    if durable { syncDirectory(dir) }
  }

  /// Removes a file and makes the removal durable; absent is fine.
  static func remove(_ path: String) throws {
    if unlink(path) != 0 && errno != ENOENT { throw SystemCallError("unlink", errno: errno, path: path) }
    syncDirectory((path as NSString).deletingLastPathComponent)
  }

  static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
    do {
      try FileManager.default.createDirectory(
        atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: Int(mode)])
    } catch {
      throw LiftoffError(.internal, "cannot create directory \(path)", cause: DescribedError(error))
    }
  }

  private static func syncDirectory(_ dir: String) {
    let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 {
      fsync(fd)
      close(fd)
    }
  }
}
