// Small file-system helpers for the image store (atomic writes are LiftoffOS.FileSystem.writeAtomically):
// directory creation, recursive removal (LiftoffOS's, by descriptors, without following symlinks).
import Foundation
import LiftoffCore
import LiftoffOS

#if canImport(Glibc)
  import Glibc
#endif

enum FileSystem {
  static func fsyncDirectory(_ dir: String) {
    let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 {
      fsync(fd)
      close(fd)
    }
  }

  /// `mkdir -p` with `mode` for the directories it creates.
  static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws {
    var st = stat()
    if stat(path, &st) == 0 {
      guard (st.st_mode & S_IFMT) == S_IFDIR else {
        throw LiftoffError(.failedPrecondition, "\(path) exists and is not a directory")
      }
      return
    }
    let parent = (path as NSString).deletingLastPathComponent
    if !parent.isEmpty && parent != path { try makeDirectories(parent, mode: mode) }
    if mkdir(path, mode) != 0 && errno != EEXIST { throw SystemCallError("mkdir", errno: errno, path: path) }
  }

  static func exists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
  }

  static func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
  }

  static func size(_ path: String) -> Int64? {
    var st = stat()
    return stat(path, &st) == 0 ? Int64(st.st_size) : nil
  }

  /// Removes `path` and everything below it by descriptors, never following a symlink nor entering
  /// another mount (LiftoffOS's removeTree). Missing is fine.
  static func removeTree(_ path: String) throws {
    try LiftoffOS.FileSystem.removeTree(path)
  }

  /// Removes `name` in directory `dirfd` recursively, the same way.
  static func removeEntry(_ dirfd: Int32, _ name: String, pathForErrors: String) throws {
    try LiftoffOS.FileSystem.removeTree(at: dirfd, name, pathForErrors: pathForErrors)
  }

  /// Names in a directory (not `.`/`..`); empty when it does not exist.
  static func list(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let ent = readdir(dir) {
      let n = withUnsafeBytes(of: ent.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
      if n != "." && n != ".." { names.append(n) }
    }
    return names.sorted()
  }

  /// Total bytes of regular files under `path` (no symlink followed).
  static func diskUsage(_ path: String) -> Int64 {
    var total: Int64 = 0
    var st = stat()
    guard lstat(path, &st) == 0 else { return 0 }
    if (st.st_mode & S_IFMT) == S_IFREG { return Int64(st.st_size) }
    guard (st.st_mode & S_IFMT) == S_IFDIR else { return 0 }
    for n in list(path) { total += diskUsage(path + "/" + n) }
    return total
  }
}

/// An exclusive `flock` on a file, released on `unlock()` or deinit. Blocks while another process
/// (or task) holds it — used to merge concurrent pulls of the same blob or layer.
final class FileLock: @unchecked Sendable {
  private var fd: Int32

  init(_ path: String) throws {
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: path) }
  }

  /// Waits for the lock without blocking a Swift concurrency thread for long: polls with LOCK_NB.
  func lock() async throws {
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
      guard errno == EWOULDBLOCK || errno == EINTR else { throw SystemCallError("flock", errno: errno) }
      try await Task.sleep(nanoseconds: 20_000_000)
    }
  }

  func lockBlocking() throws {
    while flock(fd, LOCK_EX) != 0 {
      guard errno == EINTR else { throw SystemCallError("flock", errno: errno) }
    }
  }

  func tryLock() -> Bool { flock(fd, LOCK_EX | LOCK_NB) == 0 }

  /// The open lock file (a pin writes its content through it).
  var descriptor: Int32 { fd }

  func unlock() {
    if fd >= 0 {
      close(fd)
      fd = -1
    }
  }

  deinit { unlock() }
}
