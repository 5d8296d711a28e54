// Rootfs.openStrictlyBeneath (stage1 opens an image volume's sub path with it): symlinks that stay
// below the root are followed; `..` above it or an absolute symlink fails with EXDEV instead of being
// confined (what RESOLVE_IN_ROOT would do).
import Glibc
import LiftoffCore
import LiftoffOS
import Testing

@Suite struct RootfsBeneathTests {
  @Test func leavingTheRootFailsWithEXDEV() throws {
    let base = try makeTempDir("beneath")
    defer { try? FileSystem.removeTree(base) }
    let root = base + "/root"
    try FileSystem.makeDirectories(root + "/data/sub")
    #expect(symlink("sub", root + "/data/rel") == 0)
    #expect(symlink("../../..", root + "/data/up") == 0)
    #expect(symlink("/", root + "/slash") == 0)
    #expect(symlink("/data/sub", root + "/abs") == 0)
    let r = try Rootfs(path: root)
    for inside in [".", "data/sub", "data/rel", "data/sub/../sub"] {
      #expect((try? r.openStrictlyBeneath(inside, flags: O_PATH | O_DIRECTORY)) != nil, "\(inside)")
    }
    for escape in ["..", "data/../..", "data/up", "slash", "abs", "/data"] {
      do {
        _ = try r.openStrictlyBeneath(escape, flags: O_PATH | O_DIRECTORY)
        Issue.record("\(escape) was opened")
      } catch {
        #expect(error.errno == EXDEV, "\(escape): \(error)")
      }
    }
  }
}
