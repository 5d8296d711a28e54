import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// A container writes symlinks to host paths (and an unreadable directory) into its rootfs, so into
/// its overlay upper dir on the host; `liftoff rm` and `liftoff gc` remove the pod and leave the
/// targets — their files, contents and modes — as they were.
@Suite(.needsRoot)
struct HostileUpperDirTests {
  @Test func rmAndGCLeaveTheTargetsOfAContainersSymlinksAlone() throws {
    let f = try PodFixture("hostile")
    defer { f.tearDown() }
    let host = f.base + "/host-target"
    try FileSystem.makeDirectories(host)
    try FileSystem.writeAtomically(host + "/keep", "host file\n", mode: 0o640)
    try FileSystem.writeAtomically(host + "/also", "another\n")
    chmod(host, 0o751)
    func intact(sourceLocation: SourceLocation = #_sourceLocation) throws {
      #expect(try FileSystem.list(host) == ["also", "keep"], sourceLocation: sourceLocation)
      #expect(try FileSystem.readString(host + "/keep") == "host file\n", sourceLocation: sourceLocation)
      #expect(try FileSystem.fileStat(host, follow: false).st_mode & 0o7777 == 0o751, sourceLocation: sourceLocation)
      #expect(try FileSystem.fileStat(host + "/keep", follow: false).st_mode & 0o7777 == 0o640, sourceLocation: sourceLocation)
    }
    let script = """
      mkdir -p /d/e && echo x > /d/e/f && ln -s \(host) /to-host && ln -s \(host)/keep /d/to-host-file \
      && ln -s ../../../../../../../../../../..\(host) /d/e/relative && ln -s \(host) /d/e/keep && chmod 000 /d/e
      """
    try f.runShell(script).check()
    let id = try #require(try f.list().first?.id)
    // The links are in the upper dir on the host, where rm walks.
    let uppers = try FileManager.default.subpathsOfDirectory(atPath: f.dataDir + "/pods").filter { $0.hasSuffix("/upper/to-host") }
    #expect(uppers.count == 1, "\(uppers)")
    try f.liftoff(["rm", id]).check()
    #expect(try f.leftovers([id]).isEmpty)
    try intact()

    try f.runShell(script).check()
    let id2 = try #require(try f.list().first?.id)
    try f.liftoff(["gc", "--grace-period", "0"]).check()
    #expect(try f.leftovers([id2]).isEmpty)
    #expect(try f.list().isEmpty)
    try intact()
  }
}
