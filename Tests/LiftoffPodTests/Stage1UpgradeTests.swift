// A pod outlives the liftoff build that started it. Its stage1 says which protocol level it speaks
// (stage1/protocol); a newer liftoff refuses to add an app that needs more than that stage1 can do —
// here mount flags, which a level-1 stage1 (a build before levels, which writes no file) would skip,
// leaving a volume without the nosuid/nodev/noexec asked for. (Old builds reading today's requests and
// pod.json, and this build reading theirs: FormatFixtureTests; a pod of build 20b8d80 was also managed
// by this build by hand — see the README's upgrade note.)
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct Stage1UpgradeTests {
  @Test(.needsRoot) func anAppNeedingMoreThanTheRunningStage1IsRefused() throws {
    let f = try PodFixture("upgrade")
    defer { f.tearDown() }
    let sb = try f.liftoff(["app", "sandbox"])
    #expect(sb.status == 0, "\(sb.stderr)")
    let id = sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let levelFile = "\(f.dataDir)/pods/run/\(id)/\(Stage1Protocol.levelFile)"
    #expect(try FileSystem.readString(levelFile) == "\(Stage1Protocol.level)\n")
    try FileManager.default.createDirectory(atPath: f.base + "/vol", withIntermediateDirectories: true)
    let flagged = ["app", "add", id, f.rootfs, "--exec", "/bin/true", "--volume", "\(f.base)/vol:/vol:nosuid:noexec"]

    // As if the pod's stage1 came from a build before levels: no file.
    try FileManager.default.removeItem(atPath: levelFile)
    let refused = try f.liftoff(flagged + ["--name", "old"])
    #expect(refused.status != 0)
    #expect(refused.stderr.contains("protocol level 1") && refused.stderr.contains("nosuid,noexec on /vol"), "\(refused.stderr)")
    #expect(try f.statusJSON(id).apps.isEmpty, "a refused app was recorded")
    // Without flags the old stage1 is fine.
    #expect(try f.liftoff(["app", "add", id, f.rootfs, "--name", "plain", "--exec", "/bin/true"]).status == 0)

    // A level-2 stage1 applies flags but runs no hooks: an app with a hook is refused.
    try FileSystem.writeAtomically(levelFile, "2\n")
    #expect(try f.liftoff(flagged + ["--name", "flags"]).status == 0)
    let hook = #"createRuntime={"path": "/bin/sh", "args": ["sh", "-c", "echo no-go; exit 5"]}"#
    let hooked = ["app", "add", id, f.rootfs, "--exec", "/bin/true", "--hook", hook]
    let refusedHook = try f.liftoff(hooked + ["--name", "hook2"])
    #expect(refusedHook.status != 0)
    #expect(refusedHook.stderr.contains("protocol level 2") && refusedHook.stderr.contains("does not run hooks (hook createRuntime /bin/sh)"), "\(refusedHook.stderr)")

    // This build's stage1 takes both; its hook runs at `app start` and fails it, naming the hook.
    try FileSystem.writeAtomically(levelFile, "\(Stage1Protocol.level)\n")
    let taken = try f.liftoff(flagged + ["--name", "new"])
    #expect(taken.status == 0, "\(taken.stderr)")
    #expect(try f.liftoff(hooked + ["--name", "hook3"]).status == 0)
    let start = try f.liftoff(["app", "start", "--app", "hook3", id])
    #expect(start.status != 0 && start.stderr.contains("hook createRuntime /bin/sh exited with status 5: no-go"), "\(start.stderr)")
    #expect(try f.liftoff(["stop", id]).status == 0)
  }
}
