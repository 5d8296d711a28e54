// FileSystem.removeTree against trees written by someone hostile (a container's upper dir): symlinks
// to host directories and files are removed as links; a directory swapped for a symlink to a host
// directory while the removal runs leaves that directory (its files and its mode) alone; a mount
// inside — another file system, or a bind mount of the same one — stops the removal; a tree deeper
// than PATH_MAX is removed.
import Glibc
import LiftoffCore
import LiftoffOS
import Synchronization
import Testing

@Suite struct RemoveTreeTests {
  /// `dir` with `names` as 0644 files holding "host" (not fsynced: hundreds are made per round).
  func fill(_ dir: String, _ names: [String]) throws {
    try FileSystem.makeDirectories(dir)
    for n in names {
      let fd = open("\(dir)/\(n)", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
      guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: "\(dir)/\(n)") }
      try FileSystem.writeAll(fd, Array("host\n".utf8))
      close(fd)
    }
  }

  func mode(_ path: String) -> mode_t {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
  }

  @Test func symlinksInsideAreRemovedAsLinksAndTheirTargetsStay() throws {
    let t = try makeTempDir("rmtree")
    defer { try? FileSystem.removeTree(t) }
    let host = t + "/host"
    try fill(host, ["keep", "also"])
    chmod(host, 0o751)
    chmod(host + "/keep", 0o640)
    let tree = t + "/upper"
    try fill(tree + "/a/b", ["file"])
    symlink(host, tree + "/to-host-dir")
    symlink(host + "/keep", tree + "/a/to-host-file")
    symlink("../../../host", tree + "/a/b/relative-up")
    symlink("/nonexistent", tree + "/dangling")
    // Overlay work dirs can be mode 000.
    try fill(tree + "/work/work", ["x"])
    chmod(tree + "/work/work", 0)
    try FileSystem.removeTree(tree)
    #expect(!FileSystem.exists(tree))
    #expect(try FileSystem.list(host) == ["also", "keep"])
    #expect(mode(host) == 0o751 && mode(host + "/keep") == 0o640)
    #expect(try FileSystem.readString(host + "/keep") == "host\n")
    // A missing path is fine; a symlink given as the path itself is removed as a link.
    try FileSystem.removeTree(tree)
    symlink(host, t + "/link")
    try FileSystem.removeTree(t + "/link")
    #expect(!FileSystem.exists(t + "/link") && FileSystem.exists(host + "/keep"))
  }

  /// While the tree is removed, another thread keeps moving its directory `d` aside and putting a
  /// symlink to a host directory in its place (and back). The host directory holds the same names
  /// as `d`, so a removal that resolved `tree/d/NAME` by path while `d` was the link would delete
  /// host files; one that chmods `tree/d` by path would change the host directory's mode.
  @Test func aDirectorySwappedForASymlinkDuringRemovalLeavesItsTargetAlone() throws {
    let t = try makeTempDir("rmrace")
    defer { try? FileSystem.removeTree(t) }
    let names = (0..<400).map { "f\($0)" }
    let host = t + "/host"
    try fill(host, names)
    chmod(host, 0o755)
    for round in 0..<12 {
      let tree = t + "/tree\(round)"
      try fill(tree + "/d", names)
      for i in 0..<20 { try fill(tree + "/d/sub\(i)", ["x", "y"]) }
      let treeFD = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      #expect(treeFD >= 0)
      let job = SwapJob(dirfd: treeFD, target: host)
      var thread = pthread_t()
      pthread_create(&thread, nil, { arg in
        Unmanaged<SwapJob>.fromOpaque(arg!).takeRetainedValue().run()
        return nil
      }, Unmanaged.passRetained(job).toOpaque())
      // Let the swapping start, then remove while it runs.
      while job.swaps.load(ordering: .relaxed) < 3 && !job.ended.load(ordering: .relaxed) { sched_yield() }
      _ = try? FileSystem.removeTree(tree)
      job.stop.store(true, ordering: .relaxed)
      pthread_join(thread, nil)
      close(treeFD)
      try FileSystem.removeTree(tree)
      #expect(!FileSystem.exists(tree))
      let left = try FileSystem.list(host)
      #expect(left.count == names.count, "round \(round): the host directory lost \(names.count - left.count) files")
      #expect(mode(host) == 0o755, "round \(round): the host directory's mode became \(String(mode(host), radix: 8))")
      if left.count != names.count || mode(host) != 0o755 { break }
    }
  }

  @Test func aTreeDeeperThanPathMaxIsRemoved() throws {
    let t = try makeTempDir("rmdeep")
    defer { try? FileSystem.removeTree(t) }
    var fd = open(t, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    for _ in 0..<3000 {
      mkdirat(fd, "dd", 0o755)
      let next = openat(fd, "dd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      close(fd)
      fd = next
    }
    close(fd)
    try FileSystem.removeTree(t + "/dd")
    #expect(try FileSystem.list(t).isEmpty)
  }

  /// A mount inside the tree stops the removal with EBUSY and what is mounted stays: a tmpfs (another
  /// device) and a bind mount of a directory of the same file system (same device).
  @Test(.enabled(if: geteuid() == 0, "mounting needs root"))
  func aMountInsideStopsTheRemoval() throws {
    let t = try makeTempDir("rmmount")
    defer {
      umount2(t + "/tree/bind", Int32(MNT_DETACH))
      umount2(t + "/tree2/tmp", Int32(MNT_DETACH))
      umount2(t + "/tree3", Int32(MNT_DETACH))
      try? FileSystem.removeTree(t)
    }
    let host = t + "/host"
    try fill(host, ["keep"])
    try fill(t + "/tree/bind", [])
    try fill(t + "/tree/a", ["zz"])
    #expect(mount(host, t + "/tree/bind", nil, UInt(MS_BIND), nil) == 0)
    do {
      try FileSystem.removeTree(t + "/tree")
      Issue.record("removed a tree with a bind mount inside")
    } catch {
      #expect(error.errno == EBUSY && error.path == t + "/tree/bind", "\(error)")
    }
    #expect(FileSystem.exists(host + "/keep"))
    try fill(t + "/tree2/tmp", [])
    #expect(mount("tmpfs", t + "/tree2/tmp", "tmpfs", 0, nil) == 0)
    try fill(t + "/tree2/tmp", ["inside"])
    #expect(throws: SystemCallError.self) { try FileSystem.removeTree(t + "/tree2") }
    #expect(FileSystem.exists(t + "/tree2/tmp/inside"))
    // The path itself a mount point.
    try fill(t + "/tree3", [])
    #expect(mount(host, t + "/tree3", nil, UInt(MS_BIND), nil) == 0)
    #expect(throws: SystemCallError.self) { try FileSystem.removeTree(t + "/tree3") }
    #expect(FileSystem.exists(host + "/keep"))
  }
}

/// The swapping thread of aDirectorySwappedForASymlinkDuringRemovalLeavesItsTargetAlone: plain
/// syscalls on the tree's descriptor until told to stop or the tree is gone.
final class SwapJob: Sendable {
  let dirfd: Int32
  let target: String
  let stop = Atomic<Bool>(false)
  let ended = Atomic<Bool>(false)
  let swaps = Atomic<Int>(0)

  init(dirfd: Int32, target: String) {
    self.dirfd = dirfd
    self.target = target
  }

  func run() {
    defer { ended.store(true, ordering: .relaxed) }
    // `d` is the directory most of the time (so a removal goes into it), the symlink briefly.
    while !stop.load(ordering: .relaxed) {
      guard renameat(dirfd, "d", dirfd, "d.real") == 0 else { return }
      guard symlinkat(target, dirfd, "d") == 0 else { return }
      for _ in 0..<20 { sched_yield() }
      unlinkat(dirfd, "d", 0)
      guard renameat(dirfd, "d.real", dirfd, "d") == 0 else { return }
      swaps.add(1, ordering: .relaxed)
      for _ in 0..<100 { sched_yield() }
    }
  }
}
