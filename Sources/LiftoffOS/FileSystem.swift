// Files and directories with the crash-safety rule of Liftoff: state files are written to a temp
// name, fsynced and renamed into place, and the directory is fsynced. Glibc only (stage1 uses it).
import CLinux
import Glibc
import LiftoffCore

public enum FileSystem {
  /// Reads a whole file: regular files in one read of the size fstat reports (+1 to see the end),
  /// into storage that is not zeroed first; files that report no size (/proc) in 4 KiB steps.
  public static func readBytes(_ path: String) throws(SystemCallError) -> [UInt8] {
    let fd = liftoff_open_mode(path, O_RDONLY | O_CLOEXEC, 0)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: path) }
    defer { close(fd) }
    var st = stat()
    var chunk = fstat(fd, &st) == 0 && st.st_size > 0 ? Int(st.st_size) + 1 : 4096
    var out: [UInt8] = []
    while true {
      var failure: Int32 = 0
      var end = false
      let part = [UInt8](unsafeUninitializedCapacity: chunk) { buf, count in
        count = 0
        while count < buf.count {
          let n = read(fd, buf.baseAddress! + count, buf.count - count)
          if n < 0 {
            if errno == EINTR { continue }
            failure = errno
            return
          }
          if n == 0 {
            end = true
            return
          }
          count += n
        }
      }
      if failure != 0 { throw SystemCallError("read", errno: failure, path: path) }
      if out.isEmpty { out = part } else { out += part }
      if end { return out }
      chunk = 65536
    }
  }

  /// Reads `fd` to its end, failing (EFBIG) past `limit` bytes.
  public static func readAll(_ fd: Int32, limit: Int) throws(SystemCallError) -> [UInt8] {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { throw SystemCallError("read", errno: errno) }
      if n == 0 { return out }
      out += buf[0..<n]
      if out.count > limit { throw SystemCallError("read", errno: EFBIG) }
    }
  }

  public static func readString(_ path: String) throws(SystemCallError) -> String {
    String(decoding: try readBytes(path), as: UTF8.self)
  }

  /// Writes `bytes` to a file of `path`'s directory under a temporary name, fsyncs it, renames it
  /// onto `path` and fsyncs the directory: a crash leaves the old or the new file, never a torn one.
  /// Root's alone unless `mode` says otherwise: these are manifests and state (an app's environment).
  /// Liftoff's one atomic writer. Writes `bytes` to a new temp file beside `path` (created with
  /// O_EXCL under an unguessable name, `.tmp-<16 hex>-<name>`, so store listings skip it and cleanup
  /// can find it), sets `mode` with fchmod (exact, whatever the umask), fsyncs, renames it over `path`
  /// and fsyncs the directory: a crash at any instant leaves the old file or the new one, never a torn
  /// one. `durable: false` skips both fsyncs (still a rename, so readers never see a torn file), for
  /// files a machine crash makes moot anyway. On any failure the temp file is removed and `path` is
  /// left as it was.
  public static func writeAtomically(
    _ path: String, _ bytes: some Collection<UInt8>, mode: mode_t = 0o600, durable: Bool = true
  ) throws(SystemCallError) {
    let write = { (buf: UnsafeBufferPointer<UInt8>) in
      Result { () throws(SystemCallError) in
        try writeAtomically(path, UnsafeRawBufferPointer(buf), mode: mode, durable: durable)
      }
    }
    try (bytes.withContiguousStorageIfAvailable(write) ?? Array(bytes).withUnsafeBufferPointer(write)).get()
  }

  public static func writeAtomically(_ path: String, _ text: String, mode: mode_t = 0o600, durable: Bool = true)
    throws(SystemCallError)
  {
    try writeAtomically(path, Array(text.utf8), mode: mode, durable: durable)
  }

  private static func writeAtomically(
    _ path: String, _ buf: UnsafeRawBufferPointer, mode: mode_t, durable: Bool
  ) throws(SystemCallError) {
    let dir = parent(of: path)
    let name = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
    let tmp = "\(dir)/.tmp-\(Random.hex(bytes: 8))-\(name)"
    let fd = liftoff_open_mode(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: tmp) }
    do throws(SystemCallError) {
      try writeAll(fd, buf, path: tmp)
      guard fchmod(fd, mode) == 0 else { throw SystemCallError("fchmod", errno: errno, path: tmp) }
      guard !durable || fsync(fd) == 0 else { throw SystemCallError("fsync", errno: errno, path: tmp) }
      close(fd)
    } catch {
      close(fd)
      unlink(tmp)
      throw error
    }
    guard rename(tmp, path) == 0 else {
      let e = errno
      unlink(tmp)
      throw SystemCallError("rename", errno: e, path: path)
    }
    if durable { fsyncDirectory(of: path) }
  }

  /// Writes to a control file (cgroup and /proc files): no temp name, one write. O_CREAT is
  /// harmless on cgroupfs and procfs (their files exist) and lets a fake hierarchy (a plain
  /// directory, in unit tests) record what was written.
  public static func writeControl(_ path: String, _ text: String) throws(SystemCallError) {
    let fd = liftoff_open_mode(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: path) }
    defer { close(fd) }
    try writeAll(fd, Array(text.utf8), path: path)
  }

  public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String? = nil) throws(SystemCallError) {
    try bytes.withUnsafeBytes { buf in Result { () throws(SystemCallError) in try writeAll(fd, buf, path: path) } }.get()
  }

  public static func writeAll(_ fd: Int32, _ buf: UnsafeRawBufferPointer, path: String? = nil) throws(SystemCallError) {
    var off = 0
    while off < buf.count {
      let n = write(fd, buf.baseAddress! + off, buf.count - off)
      if n < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("write", errno: errno, path: path)
      }
      off += n
    }
  }

  public static func fsyncDirectory(of path: String) {
    let dir = parent(of: path)
    let fd = liftoff_open_mode(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
    if fd >= 0 {
      fsync(fd)
      close(fd)
    }
  }

  public static func parent(of path: String) -> String {
    guard let i = path.lastIndex(of: "/") else { return "." }
    if i == path.startIndex { return "/" }
    return String(path[..<i])
  }

  public static func exists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
  }

  public static func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
  }

  public static func fileStat(_ path: String, follow: Bool = true) throws(SystemCallError) -> stat {
    var st = stat()
    let rc = follow ? stat(path, &st) : lstat(path, &st)
    guard rc == 0 else { throw SystemCallError(follow ? "stat" : "lstat", errno: errno, path: path) }
    return st
  }

  /// mkdir -p; existing directories are fine.
  public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SystemCallError) {
    if isDirectory(path) { return }
    let p = parent(of: path)
    if p != path && p != "/" && p != "." { try makeDirectories(p, mode: mode) }
    if mkdir(path, mode) != 0 && errno != EEXIST {
      throw SystemCallError("mkdir", errno: errno, path: path)
    }
  }

  /// A directory only its owner (root) may enter: made 0700 with its missing parents, or tightened
  /// to 0700 when it exists with more (a data directory of an older install: 0711, images/ 0755).
  public static func makePrivateDirectory(_ path: String) throws(SystemCallError) {
    try makeDirectories(path, mode: 0o700)
    let st = try fileStat(path)
    if st.st_mode & 0o7777 != 0o700 {
      guard chmod(path, 0o700) == 0 else { throw SystemCallError("chmod", errno: errno, path: path) }
    }
  }

  /// The names in a directory, without `.` and `..`, sorted.
  public static func list(_ path: String) throws(SystemCallError) -> [String] {
    guard let d = opendir(path) else { throw SystemCallError("opendir", errno: errno, path: path) }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
      let name = withUnsafePointer(to: e.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
  }

  /// rm -rf of `path` that follows no symlink, re-resolves no path and never enters another mount.
  /// The parent of `path` is opened by its path (Liftoff's own directories); from there every step
  /// is relative to a directory descriptor (openat with O_NOFOLLOW, unlinkat), so a tree whose
  /// owner (a container writing its upper dir) swaps a directory for a symlink while it is removed
  /// can make it remove only the link. A directory on another mount — another device, or a mount
  /// of the same file system (a mount point left behind) — stops it with EBUSY instead of deleting
  /// what is mounted there; so does `path` itself being a mount point. A missing `path` is fine.
  public static func removeTree(_ path: String) throws(SystemCallError) {
    var p = path
    while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
    let name = p.split(separator: "/").last.map(String.init) ?? ""
    guard !name.isEmpty, name != ".", name != ".." else { throw SystemCallError("remove", errno: EINVAL, path: path) }
    let dir = p.contains("/") ? parent(of: p) : "."
    let pfd = liftoff_open_mode(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0)
    guard pfd >= 0 else {
      if errno == ENOENT { return }
      throw SystemCallError("open", errno: errno, path: dir)
    }
    defer { close(pfd) }
    try removeTree(at: pfd, name, pathForErrors: p)
  }

  /// Removes `name` in the directory `dirfd` and everything below it, as `removeTree(_:)` does: only
  /// descriptors, no symlink followed (a symlink is removed as a link, its target untouched), no
  /// chmod through a symlink, no other mount entered. Only two descriptors are open at a time
  /// besides `dirfd`: the walk climbs back with `..`, checked against the directory it left, so a
  /// tree any depth deep is removed and one moved away meanwhile stops the walk (ESTALE).
  public static func removeTree(at dirfd: Int32, _ name: String, pathForErrors: String) throws(SystemCallError) {
    // The top directory filled again while it was emptied: go over it again, a few times.
    for _ in 0..<8 {
      if try removeTreeOnce(at: dirfd, name, pathForErrors: pathForErrors) { return }
    }
    throw SystemCallError("remove (keeps being refilled)", errno: ENOTEMPTY, path: pathForErrors)
  }

  /// One pass of removeTree(at:); false when the top directory was not empty at the end.
  private static func removeTreeOnce(at dirfd: Int32, _ name: String, pathForErrors: String) throws(SystemCallError) -> Bool {
    // A non-directory (or a symlink to one) goes with one unlinkat.
    var top: Int32 = -1
    for _ in 0..<8 {
      if unlinkat(dirfd, name, 0) == 0 || errno == ENOENT { return true }
      guard errno == EISDIR else { throw SystemCallError("unlinkat", errno: errno, path: pathForErrors) }
      top = try openDirectory(dirfd, name, path: pathForErrors)
      if top >= 0 { break }
    }
    guard top >= 0 else { throw SystemCallError("remove (keeps changing type)", errno: EAGAIN, path: pathForErrors) }
    var topStat = stat()
    guard fstat(top, &topStat) == 0 else {
      let e = errno
      close(top)
      throw SystemCallError("fstat", errno: e, path: pathForErrors)
    }
    let topMount = mountID(top)
    var parentStat = stat()
    if (fstat(dirfd, &parentStat) == 0 && parentStat.st_dev != topStat.st_dev)
      || (mountID(dirfd).map { $0 != topMount } ?? false)
    {
      close(top)
      throw SystemCallError("remove (a mount point)", errno: EBUSY, path: pathForErrors)
    }

    /// A directory being emptied: what identifies it, and the names in it still to remove.
    struct Level {
      var name: String
      var path: String
      var dev: dev_t
      var ino: ino_t
      var names: [String]
    }
    var cur = top
    var stack: [Level] = []
    var level = Level(name: name, path: pathForErrors, dev: topStat.st_dev, ino: topStat.st_ino, names: [])
    var relists = 0
    do throws(SystemCallError) {
      level.names = try listNames(cur, path: pathForErrors)
      while true {
        if let n = level.names.popLast() {
          let childPath = level.path + "/" + n
          if unlinkat(cur, n, 0) == 0 || errno == ENOENT { continue }
          guard errno == EISDIR else { throw SystemCallError("unlinkat", errno: errno, path: childPath) }
          let child = try openDirectory(cur, n, path: childPath)
          if child < 0 {
            // Not a directory any more (swapped for a symlink or file): remove that instead.
            level.names.append(n)
            relists += 1
            if relists > 64 { throw SystemCallError("remove (keeps changing type)", errno: EAGAIN, path: childPath) }
            continue
          }
          var st = stat()
          guard fstat(child, &st) == 0 else {
            let e = errno
            close(child)
            throw SystemCallError("fstat", errno: e, path: childPath)
          }
          if st.st_dev != topStat.st_dev || (mountID(child).map { $0 != topMount } ?? false) {
            close(child)
            throw SystemCallError("remove (mount point inside)", errno: EBUSY, path: childPath)
          }
          stack.append(level)
          level = Level(name: n, path: childPath, dev: st.st_dev, ino: st.st_ino, names: [])
          cur = child
          level.names = try listNames(cur, path: childPath)
          continue
        }
        // Empty (as far as we listed it): climb to the parent and remove it there.
        guard let up = stack.popLast() else { break }
        let pfd = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard pfd >= 0 else { throw SystemCallError("openat ..", errno: errno, path: level.path) }
        var pst = stat()
        guard fstat(pfd, &pst) == 0, pst.st_dev == up.dev, pst.st_ino == up.ino else {
          close(pfd)
          throw SystemCallError("remove (directory moved during removal)", errno: ESTALE, path: level.path)
        }
        close(cur)
        cur = pfd
        let done = level
        level = up
        if unlinkat(cur, done.name, AT_REMOVEDIR) != 0 && errno != ENOENT {
          // Filled again, or swapped for a symlink after it was emptied: go over it once more.
          guard errno == ENOTEMPTY || errno == EEXIST || errno == ENOTDIR, relists < 64 else {
            throw SystemCallError("unlinkat", errno: errno, path: done.path)
          }
          relists += 1
          level.names.append(done.name)
        }
      }
      // The top directory: empty now, unless something was created in it meanwhile.
      close(cur)
      cur = -1
      if unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT {
        if errno == ENOTEMPTY || errno == EEXIST || errno == ENOTDIR { return false }
        throw SystemCallError("unlinkat", errno: errno, path: pathForErrors)
      }
      return true
    } catch {
      if cur >= 0 { close(cur) }
      throw error
    }
  }

  /// The directory `name` in `dirfd`, opened without following a symlink; -1 when it is no
  /// directory (any more). Unreadable (mode 000, as overlay work dirs can be, for a caller without
  /// CAP_DAC_OVERRIDE): made 0700 first, by a chmod that refuses a symlink.
  private static func openDirectory(_ dirfd: Int32, _ name: String, path: String) throws(SystemCallError) -> Int32 {
    var fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if fd < 0 && errno == EACCES && fchmodat(dirfd, name, 0o700, AT_SYMLINK_NOFOLLOW) == 0 {
      fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    }
    if fd >= 0 { return fd }
    if errno == ELOOP || errno == ENOTDIR || errno == ENOENT { return -1 }
    throw SystemCallError("openat", errno: errno, path: path)
  }

  /// The names in the directory open as `fd` (not `.`/`..`); `fd` stays open.
  private static func listNames(_ fd: Int32, path: String) throws(SystemCallError) -> [String] {
    let copy = dup(fd)
    guard copy >= 0 else { throw SystemCallError("dup", errno: errno, path: path) }
    guard let d = fdopendir(copy) else {
      let e = errno
      close(copy)
      throw SystemCallError("fdopendir", errno: e, path: path)
    }
    defer { closedir(d) }
    // The duplicate shares its offset with `fd`: start from the beginning on a relisting.
    rewinddir(d)
    var names: [String] = []
    while let e = readdir(d) {
      let name = withUnsafePointer(to: e.pointee.d_name) {
        $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return names
  }

  /// The mount ID of the file open as `fd` (from /proc/self/fdinfo; statx is not in Swift's Glibc),
  /// or nil without /proc.
  static func mountID(_ fd: Int32) -> Int? {
    guard let bytes = try? readBytes("/proc/self/fdinfo/\(fd)") else { return nil }
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") where line.hasPrefix("mnt_id:") {
      return Int(line.dropFirst(7).drop { $0 == " " || $0 == "\t" })
    }
    return nil
  }

  /// Creates an empty regular file (for bind-mount targets) if nothing is there.
  public static func touch(_ path: String, mode: mode_t = 0o644) throws(SystemCallError) {
    let fd = liftoff_open_mode(path, O_WRONLY | O_CREAT | O_CLOEXEC, mode)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: path) }
    close(fd)
  }

  /// Creates a character device node.
  public static func makeCharDevice(_ path: String, mode: mode_t, major: UInt32, minor: UInt32) throws(SystemCallError) {
    guard liftoff_mknod_char(path, mode, major, minor) == 0 else { throw SystemCallError("mknod", errno: errno, path: path) }
  }

  public static func major(_ dev: dev_t) -> UInt32 { UInt32(liftoff_dev_major(UInt64(dev))) }
  public static func minor(_ dev: dev_t) -> UInt32 { UInt32(liftoff_dev_minor(UInt64(dev))) }

  /// mknod of a character (`block` false) or block device.
  public static func makeDevice(_ path: String, block: Bool, mode: mode_t, major: UInt32, minor: UInt32) throws(SystemCallError) {
    guard liftoff_mknod(path, (block ? S_IFBLK : S_IFCHR) | (mode & 0o7777), major, minor) == 0 else {
      throw SystemCallError("mknod", errno: errno, path: path)
    }
  }

  /// Joins `relative` (absolute inside a rootfs, e.g. `/etc/passwd`) onto `root`.
  public static func join(_ root: String, _ relative: String) -> String {
    var r = relative
    while r.hasPrefix("/") { r.removeFirst() }
    if r.isEmpty { return root }
    return root.hasSuffix("/") ? root + r : root + "/" + r
  }
}

/// Random bytes from getrandom(2).
public enum Random {
  public static func bytes(_ n: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: n)
    var off = 0
    while off < n {
      let r = out.withUnsafeMutableBytes { liftoff_getrandom($0.baseAddress! + off, n - off) }
      if r > 0 { off += r } else if errno != EINTR { fatalError("getrandom failed: \(errnoDescription(errno))") }
    }
    return out
  }

  public static func hex(bytes n: Int) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var s: [UInt8] = []
    for b in bytes(n) {
      s.append(digits[Int(b >> 4)])
      s.append(digits[Int(b & 15)])
    }
    return String(decoding: s, as: UTF8.self)
  }
}

/// Wall-clock time as Liftoff writes it.
public enum Clock {
  public static func now() -> (seconds: Int64, nanoseconds: Int64) {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return (Int64(ts.tv_sec), Int64(ts.tv_nsec))
  }
  public static func nowRFC3339() -> String {
    let t = now()
    return Timestamp.rfc3339Nano(seconds: t.seconds, nanoseconds: t.nanoseconds)
  }
  /// Monotonic seconds, for timeouts.
  public static func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }
}
