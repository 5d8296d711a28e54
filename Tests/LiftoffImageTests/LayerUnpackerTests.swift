import Foundation
import LiftoffCore
import Testing

@testable import LiftoffImage

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct LayerUnpackerTests {
  /// Unpacks `entries` into a fresh root; returns (tmp, root, outside) — `outside` is a sibling
  /// directory holding a sentinel file that no layer may touch.
  func unpack(_ entries: [TarEntry], compression: LayerCompression = .gzip) throws -> (TempDir, String, String, (any Error)?) {
    let t = TempDir("unpack")
    let root = t.sub("root")
    let outside = t.sub("outside")
    try "sentinel".write(toFile: outside + "/sentinel", atomically: false, encoding: .utf8)
    let tar = t.path + "/layer.tar"
    try TarWriter.write(entries, to: tar, compression: compression)
    var err: (any Error)?
    do { _ = try LayerUnpacker.unpack(archivePath: tar, into: root, layer: "sha256:test") } catch { err = error }
    return (t, root, outside, err)
  }

  @Test func unpacksFilesDirsLinksOwnershipModes() throws {
    let (t, root, _, err) = try unpack([
      .dir("etc", mode: 0o755),
      .file("etc/passwd", "root:x:0:0\n", mode: 0o644),
      .dir("home/user", mode: 0o750, uid: 1000, gid: 1000),
      .file("home/user/secret", "s\n", mode: 0o600, uid: 1000, gid: 50),
      .file("bin/tool", "#!/bin/sh\n", mode: 0o4755),
      .symlink("bin/sh", to: "tool"),
      .symlink("abs", to: "/etc/passwd"),
      .hardlink("bin/tool2", to: "bin/tool"),
      .fifo("run/fifo", mode: 0o620),
      .file("x/attr", "a", xattrs: ["user.liftoff": "yes", "trusted.overlay.opaque": "y"]),
      .dir("ro", mode: 0o555),
      .file("ro/inside", "inside\n", mode: 0o444),
    ], compression: .gzip)
    defer { t.cleanup() }
    #expect(err == nil, "\(String(describing: err))")
    let s = snapshot(root)
    #expect(s["etc/passwd"] == "file mode=644 uid=0 gid=0 nlink=1 content=root:x:0:0\n")
    #expect(s["home/user"] == "dir mode=750 uid=1000 gid=1000")
    #expect(s["home/user/secret"] == "file mode=600 uid=1000 gid=50 nlink=1 content=s\n")
    #expect(s["bin/tool"] == "file mode=4755 uid=0 gid=0 nlink=2 content=#!/bin/sh\n")
    #expect(s["bin/tool2"] == s["bin/tool"])
    #expect(s["bin/sh"] == "symlink -> tool")
    #expect(s["abs"] == "symlink -> /etc/passwd")
    #expect(s["run/fifo"] == "fifo mode=620 uid=0 gid=0")
    #expect(s["ro"] == "dir mode=555 uid=0 gid=0")
    #expect(s["ro/inside"] == "file mode=444 uid=0 gid=0 nlink=1 content=inside\n")
    #expect(xattr(root + "/x/attr", "user.liftoff") == "yes")
    // A layer may not forge overlayfs' own attributes.
    #expect(xattr(root + "/x/attr", "trusted.overlay.opaque") == nil)
    var st = stat()
    #expect(lstat(root + "/etc/passwd", &st) == 0 && st.st_mtim.tv_sec == 1_700_000_000)
  }

  @Test(arguments: [LayerCompression.none, .zstd])
  func otherCompressions(_ c: LayerCompression) throws {
    let (t, root, _, err) = try unpack([.file("hello", "world\n")], compression: c)
    defer { t.cleanup() }
    #expect(err == nil)
    #expect(snapshot(root)["hello"] == "file mode=644 uid=0 gid=0 nlink=1 content=world\n")
  }

  @Test func whiteoutsBecomeOverlayWhiteouts() throws {
    let (t, root, _, err) = try unpack([
      .dir("a"),
      .file("a/.wh.gone", ""),
      .dir("opq"),
      .file("opq/.wh..wh..opq", ""),
      .file("opq/new", "new\n"),
      .file("deep/dir/.wh.x", ""),
      .file(".wh..wh.plnk", ""),
    ])
    defer { t.cleanup() }
    #expect(err == nil, "\(String(describing: err))")
    let s = snapshot(root)
    #expect(s["a/gone"] == "chr 0")
    #expect(s["a/.wh.gone"] == nil)
    #expect(xattr(root + "/opq", "trusted.overlay.opaque") == "y")
    #expect(s["opq/new"] != nil)
    #expect(s["opq/.wh..wh..opq"] == nil)
    #expect(s["deep/dir/x"] == "chr 0")
    #expect(s[".wh..wh.plnk"] == nil)
  }

  /// The hostile corpus: every layer is refused (the error names the layer and the entry) and
  /// nothing outside the root is created or changed.
  static let hostile: [(String, [TarEntry], String)] = [
    ("dotdot", [.file("../escape", "x")], "../escape"),
    ("dotdot-nested", [.dir("a"), .file("a/../../escape", "x")], "a/../../escape"),
    ("absolute", [.file("/tmp/liftoff-abs-escape", "x")], "/tmp/liftoff-abs-escape"),
    ("symlink-parent", [.symlink("link", to: "../outside"), .file("link/pwned", "x")], "link/pwned"),
    ("symlink-parent-abs", [.symlink("link", to: "/tmp"), .file("link/liftoff-pwned", "x")], "link/liftoff-pwned"),
    ("symlink-chain", [.dir("d"), .symlink("d/up", to: "../.."), .file("d/up/outside/pwned", "x")], "d/up/outside/pwned"),
    ("hardlink-dotdot", [.hardlink("h", to: "../outside/sentinel")], "h"),
    ("hardlink-absolute", [.hardlink("h", to: "/etc/passwd")], "h"),
    ("hardlink-through-symlink", [.symlink("s", to: "../outside"), .hardlink("h", to: "s/sentinel")], "h"),
    ("whiteout-dotdot", [.file("../.wh.sentinel", "")], "../.wh.sentinel"),
    ("whiteout-name-dotdot", [.file("a/.wh...", "")], "a/.wh..."),
    ("whiteout-through-symlink", [.symlink("s", to: "../outside"), .file("s/.wh.sentinel", "")], "s/.wh.sentinel"),
    ("opaque-through-symlink", [.symlink("s", to: "../outside"), .file("s/.wh..wh..opq", "")], "s/.wh..wh..opq"),
    ("dir-through-symlink", [.symlink("s", to: "../outside"), .dir("s/newdir")], "s/newdir/"),
    ("symlink-through-symlink", [.symlink("s", to: "../outside"), .symlink("s/l", to: "/")], "s/l"),
    ("fifo-through-symlink", [.symlink("s", to: "../outside"), .fifo("s/f")], "s/f"),
    ("hardlink-missing", [.hardlink("h", to: "nope")], "h"),
  ]

  @Test(arguments: hostile.map(\.0))
  func hostileLayerIsRefused(_ name: String) throws {
    let (_, entries, bad) = LayerUnpackerTests.hostile.first { $0.0 == name }!
    let (t, _, outside, err) = try unpack(entries)
    defer { t.cleanup() }
    let e = try #require(err as? LiftoffError, "layer \(name) was not refused")
    #expect(e.message.contains("sha256:test"))
    #expect(e.message.contains("\"\(bad)\""), "\(e.message)")
    #expect(FileSystem.list(outside) == ["sentinel"])
    #expect((try? String(contentsOfFile: outside + "/sentinel", encoding: .utf8)) == "sentinel")
    #expect(!FileSystem.exists("/tmp/liftoff-abs-escape") && !FileSystem.exists("/tmp/liftoff-pwned"))
    #expect(FileSystem.list(t.path).sorted() == ["layer.tar", "outside", "root"])
  }

  /// A symlink, then a regular file of the same name: the file replaces the symlink and nothing is
  /// written through it.
  @Test func symlinkThenWriteReplacesTheLink() throws {
    let (t, root, outside, err) = try unpack([
      .symlink("s", to: "../outside/sentinel"),
      .file("s", "mine"),
      .symlink("h", to: "../outside/sentinel"),
      .hardlink("h2", to: "h"),
    ])
    defer { t.cleanup() }
    #expect(err == nil, "\(String(describing: err))")
    #expect(snapshot(root)["s"] == "file mode=644 uid=0 gid=0 nlink=1 content=mine")
    #expect(snapshot(root)["h2"] == "symlink -> ../outside/sentinel")
    #expect((try? String(contentsOfFile: outside + "/sentinel", encoding: .utf8)) == "sentinel")
  }

  @Test func garbageIsRefusedWithTheLayerName() throws {
    let t = TempDir("unpack")
    defer { t.cleanup() }
    let root = t.sub("root")
    try Data(repeating: 0x42, count: 5000).write(to: URL(fileURLWithPath: t.path + "/bad"))
    #expect(throws: LiftoffError.self) { try LayerUnpacker.unpack(archivePath: t.path + "/bad", into: root, layer: "sha256:bad") }
    // A truncated gzip stream.
    try TarWriter.write([.file("big", String(repeating: "x", count: 100_000))], to: t.path + "/ok.tgz")
    let d = try Data(contentsOf: URL(fileURLWithPath: t.path + "/ok.tgz"))
    try d.prefix(d.count / 2).write(to: URL(fileURLWithPath: t.path + "/trunc.tgz"))
    let root2 = t.sub("root2")
    #expect(throws: LiftoffError.self) { try LayerUnpacker.unpack(archivePath: t.path + "/trunc.tgz", into: root2, layer: "sha256:trunc") }
  }
}
