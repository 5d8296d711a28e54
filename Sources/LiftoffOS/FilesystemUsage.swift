// Disk usage of a directory tree, as `du` counts it: allocated bytes (st_blocks × 512) and inodes,
// each inode counted once however many hard links it has; the walk stays on one filesystem and never
// follows symlinks.
import Glibc
import LiftoffCore

public struct FilesystemUsage: Sendable, Equatable {
  public var usedBytes: UInt64 = 0
  public var inodesUsed: UInt64 = 0

  public init(usedBytes: UInt64 = 0, inodesUsed: UInt64 = 0) {
    self.usedBytes = usedBytes
    self.inodesUsed = inodesUsed
  }

  public static func + (a: FilesystemUsage, b: FilesystemUsage) -> FilesystemUsage {
    FilesystemUsage(usedBytes: a.usedBytes + b.usedBytes, inodesUsed: a.inodesUsed + b.inodesUsed)
  }

  /// Walks `path`; a missing directory counts as empty. A directory whose inode is in `pruned` (on the
  /// walk's file system) is counted itself but not entered: its contents are accounted elsewhere.
  public static func measure(_ path: String, pruned: Set<UInt64> = []) -> FilesystemUsage {
    var usage = FilesystemUsage()
    var root = stat()
    guard lstat(path, &root) == 0 else { return usage }
    var seen = Set<UInt64>()
    func visit(_ st: stat) {
      if st.st_nlink > 1 && (st.st_mode & S_IFMT) != S_IFDIR {
        guard seen.insert(UInt64(st.st_ino)).inserted else { return }
      }
      usage.usedBytes += UInt64(st.st_blocks) * 512
      usage.inodesUsed += 1
    }
    func walk(_ dirfd: Int32, _ st: stat) {
      visit(st)
      guard let dir = fdopendir(dirfd) else {
        close(dirfd)
        return
      }
      defer { closedir(dir) }
      while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
          String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
        }
        if name == "." || name == ".." { continue }
        var child = stat()
        guard fstatat(dirfd, name, &child, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
        if (child.st_mode & S_IFMT) == S_IFDIR {
          guard child.st_dev == root.st_dev else { continue }
          if pruned.contains(UInt64(child.st_ino)) {
            visit(child)
            continue
          }
          let fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
          if fd >= 0 { walk(fd, child) }
        } else {
          visit(child)
        }
      }
    }
    if (root.st_mode & S_IFMT) == S_IFDIR {
      let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      if fd >= 0 { walk(fd, root) }
    } else {
      visit(root)
    }
    return usage
  }
}
