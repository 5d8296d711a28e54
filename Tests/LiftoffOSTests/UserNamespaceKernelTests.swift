import Glibc
import LiftoffCore
import LiftoffOS
import Testing

/// The user namespace calls for real, as root, in the test process (multi-threaded: the C half must
/// be safe there): a namespace with a mapping, an idmapped bind that maps owners, the probe.
@Suite(.enabled(if: getuid() == 0, "needs root"))
struct UserNamespaceKernelTests {
  @Test func idmappedBindMapsOwnersThroughTheNamespace() throws {
    let dir = try makeTempDir("userns")
    defer { try? FileSystem.removeTree(dir) }
    try FileSystem.makeDirectories("\(dir)/src")
    try FileSystem.makeDirectories("\(dir)/dst")
    try FileSystem.writeAtomically("\(dir)/src/root-file", "x")
    try FileSystem.writeAtomically("\(dir)/src/other-file", "y")
    chown("\(dir)/src/other-file", 1000, 1001)

    let m = IDMapping(containerID: 0, hostID: 4_000_000, size: 65536)
    let fd = try UserNamespace.create(uids: [m], gids: [m])
    defer { close(fd) }
    var nsStat = stat()
    #expect(fstat(fd, &nsStat) == 0)
    var mine = stat()
    #expect(stat("/proc/self/ns/user", &mine) == 0)
    #expect(nsStat.st_ino != mine.st_ino, "a new user namespace")

    try UserNamespace.idmappedBind("\(dir)/src", "\(dir)/dst", userns: fd, recursive: true)
    defer { _ = try? Mounts.unmount("\(dir)/dst") }
    var st = stat()
    #expect(lstat("\(dir)/dst/root-file", &st) == 0 && st.st_uid == 4_000_000 && st.st_gid == 4_000_000)
    #expect(lstat("\(dir)/dst/other-file", &st) == 0 && st.st_uid == 4_001_000 && st.st_gid == 4_001_001)
    // A file created through the mount by (host) root, which the mapping does not cover, is refused.
    let created = open("\(dir)/dst/new", O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
    #expect(created < 0 && errno == EOVERFLOW)
    if created >= 0 { close(created) }

    #expect(UserNamespace.probeIDMappedMounts(dir) == nil)
  }

  @Test func badMappingsFailWithTheCallThatFailed() {
    // Overlapping host ranges: the kernel refuses the uid_map write.
    let a = IDMapping(containerID: 0, hostID: 100_000, size: 10)
    let b = IDMapping(containerID: 10, hostID: 100_005, size: 10)
    #expect {
      _ = try UserNamespace.create(uids: [a, b], gids: [a])
    } throws: { e in
      "\(e)".hasPrefix("write uid_map: ")
    }
  }
}
