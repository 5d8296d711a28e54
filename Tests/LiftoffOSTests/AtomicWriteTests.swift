// FileSystem.writeAtomically, Liftoff's one atomic writer: the mode is exact, the target is replaced
// whole, and a failed write leaves neither a temp file nor a changed target.
import Glibc
import LiftoffCore
import LiftoffOS
import Testing

@Suite struct AtomicWriteTests {
  @Test func replacesTheTargetWithTheExactModeAndLeavesNoTempFile() throws {
    let dir = try makeTempDir("atomic")
    defer { try? FileSystem.removeTree(dir) }
    let path = dir + "/state.json"
    try FileSystem.writeAtomically(path, "old", mode: 0o600)
    // 0666 is more than the usual umask lets open(2) give: fchmod makes it exact.
    try FileSystem.writeAtomically(path, Array("new".utf8), mode: 0o666)
    #expect(try FileSystem.readString(path) == "new")
    #expect(try FileSystem.fileStat(path).st_mode & 0o7777 == 0o666)
    // A collection without contiguous storage, not durable.
    try FileSystem.writeAtomically(path, repeatElement(UInt8(ascii: "x"), count: 3), mode: 0o644, durable: false)
    #expect(try FileSystem.readString(path) == "xxx")
    #expect(try FileSystem.list(dir) == ["state.json"])
  }

  @Test func aFailedWriteRemovesItsTempFileAndLeavesTheTargetAlone() throws {
    let dir = try makeTempDir("atomicfail")
    defer { try? FileSystem.removeTree(dir) }
    // The temp file is made and written; the rename over a directory that is not empty fails.
    let target = dir + "/target"
    try FileSystem.makeDirectories(target)
    try FileSystem.writeAtomically(target + "/kept", "kept")
    let renameError = try #require(throws: SystemCallError.self) {
      try FileSystem.writeAtomically(target, "new content")
    }
    #expect(renameError.call == "rename")
    #expect(try FileSystem.list(dir) == ["target"])
    #expect(try FileSystem.list(target) == ["kept"])
    #expect(try FileSystem.readString(target + "/kept") == "kept")

    // The parent is a file: nothing can be made, and the file is untouched.
    let file = dir + "/file"
    try FileSystem.writeAtomically(file, "file")
    let openError = try #require(throws: SystemCallError.self) {
      try FileSystem.writeAtomically(file + "/child", "x")
    }
    #expect(openError.errno == ENOTDIR)
    #expect(try FileSystem.readString(file) == "file")
    #expect(try FileSystem.list(dir).sorted() == ["file", "target"])
  }
}
