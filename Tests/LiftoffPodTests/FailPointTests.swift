// Crashes at the named fail-points (LiftoffOS/FailPoint.swift): the `liftoff` command (or the stage1
// it became) is run with LIFTOFF_FAILPOINT set and must die by SIGKILL at that point — a point that is
// never reached fails the test — and what it leaves must then be cleaned up by the usual commands,
// after which the same operation works again.
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

@Suite(.needsRoot)
struct FailPointTests {
  /// The points of making a pod (stage0 and the stage1 it starts).
  static let podStart = FailPoint.allCases.filter { $0.rawValue.hasPrefix("stage0.") || $0.rawValue.hasPrefix("stage1.") }
  /// The points `app sandbox` passes (its stage1 starts apps only on `app start`).
  static let sandboxStart = FailPoint.allCases.filter { $0.rawValue.hasPrefix("stage0.") }
  static let appRemove = FailPoint.allCases.filter { $0.rawValue.hasPrefix("app-rm.") }
  static let teardown = FailPoint.allCases.filter { $0.rawValue.hasPrefix("teardown.") }
  static let image = FailPoint.allCases.filter { $0.rawValue.hasPrefix("image.") }

  static func arm(_ point: FailPoint, hit nth: Int = 1) -> [String: String] {
    [FailPoint.environmentVariable: nth == 1 ? point.rawValue : "\(point.rawValue)@\(nth)"]
  }

  static func describe(_ r: PodFixture.Result) -> String {
    "status \(r.status), signal \(r.signal.map(String.init) ?? "none"): \(r.stderr)"
  }

  /// A point added without a test here fails this one.
  @Test func everyPointHasATest() {
    let tested = Set(Self.podStart + Self.sandboxStart + Self.appRemove + Self.teardown + Self.image + [.appAddDirMade])
    #expect(tested == Set(FailPoint.allCases), "untested: \(Set(FailPoint.allCases).subtracting(tested).map(\.rawValue))")
  }

  /// `run` on a CNI network killed at each point of a pod's start: gc removes everything (directory,
  /// mounts, cgroups, netns, veths, IP allocation, CNI cache) and the next pod runs.
  @Test(arguments: podStart)
  func runKilledThenGCLeavesNothing(_ point: FailPoint) throws {
    let f = try NetworkFixture("fp")
    defer { f.tearDown() }
    let r = try f.pod.liftoff(f.globals + ["run", "--net=default", f.pod.rootfs, "--exec", "/bin/true"], environment: Self.arm(point))
    #expect(r.killed(at: point), "\(Self.describe(r))")
    let ids = try f.pod.list().map(\.id)
    #expect(ids.count == 1)
    usleep(50_000)  // parent-death signals are delivered asynchronously
    let gc = try f.liftoff(["gc", "--grace-period", "0"])
    #expect(gc.status == 0, "\(gc.stderr)")
    #expect(try f.pod.list().isEmpty)
    #expect(try f.pod.leftovers(ids) == [])
    #expect(try f.networkLeftovers(ids) == [])
    let again = try f.runShell("echo fresh")
    #expect(again.status == 0 && again.stdout.contains("fresh"), "\(again.stderr)")
  }

  /// `app sandbox` killed at each of its points: the stage1 it may have started goes by itself, gc
  /// removes the rest, and the next sandbox comes up.
  @Test(arguments: sandboxStart)
  func sandboxKilledThenGCLeavesNothing(_ point: FailPoint) throws {
    let f = try NetworkFixture("fpsb")
    defer { f.tearDown() }
    let r = try f.pod.liftoff(f.globals + ["app", "sandbox", "--net=default"], environment: Self.arm(point))
    #expect(r.killed(at: point), "\(Self.describe(r))")
    let ids = try f.pod.list().map(\.id)
    #expect(ids.count == 1)
    // A stage1 waiting for the network reads EOF and exits; until then the pod is locked.
    try waitFor("gc to remove the pod") {
      _ = try f.liftoff(["gc", "--grace-period", "0"])
      return try f.pod.list().isEmpty
    }
    #expect(try f.pod.leftovers(ids) == [])
    #expect(try f.networkLeftovers(ids) == [])
    let sb = try f.liftoff(["app", "sandbox", "--net=default"])
    #expect(sb.status == 0, "\(sb.stderr)")
    let id = sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    try f.liftoff(["stop", id]).check()
    try f.liftoff(["rm", id]).check()
  }

  func sandbox(_ f: PodFixture) throws -> String {
    let sb = try f.liftoff(["app", "sandbox", "--net", "none"])
    sb.check()
    return sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Starts app `web` (a shell that runs `script`) and waits until it has exited.
  func runApp(_ f: PodFixture, _ id: String, _ script: String) throws -> AppStatus {
    try f.liftoff(["app", "add", id, f.rootfs, "--name", "web", "--exec", "/bin/sh", "--", "-c", script]).check()
    try f.liftoff(["app", "start", "--app", "web", id]).check()
    var last: AppStatus?
    try waitFor("app web to exit") {
      last = try f.statusJSON(id).apps.first { $0.name == "web" }
      return last?.state == "exited"
    }
    return try #require(last)
  }

  /// `app add` killed after the app's directory was made, before pod.json lists it: the pod does not
  /// show the app, and the same name can be added, started and removed.
  @Test func appAddKilledLeavesAManageablePod() throws {
    let f = try PodFixture("fpadd")
    defer { f.tearDown() }
    let id = try sandbox(f)
    let add = try f.liftoff(["app", "add", id, f.rootfs, "--name", "web", "--exec", "/bin/true"], environment: Self.arm(.appAddDirMade))
    #expect(add.killed(at: .appAddDirMade), "\(Self.describe(add))")
    #expect(try f.statusJSON(id).apps.isEmpty)
    let app = try runApp(f, id, "exit 7")
    #expect(app.exitCode == 7)
    try f.liftoff(["app", "rm", "--app", "web", id]).check()
    #expect(try f.statusJSON(id).apps.isEmpty)
    try f.liftoff(["stop", id]).check()
    try f.liftoff(["rm", id]).check()
    #expect(try f.leftovers([id]) == [])
  }

  /// `app rm` killed midway: the app is gone from the pod (or goes with a second `app rm`), and an app
  /// added under the same name starts from a fresh rootfs, not the old one's upper layer.
  @Test(arguments: appRemove)
  func appRmKilledLeavesAManageablePod(_ point: FailPoint) throws {
    let f = try PodFixture("fprm")
    defer { f.tearDown() }
    let id = try sandbox(f)
    try f.liftoff(["app", "add", id, f.rootfs, "--name", "web", "--exec", "/bin/sh", "--", "-c", "touch /tmp/old; sleep 1000"]).check()
    try f.liftoff(["app", "start", "--app", "web", id]).check()
    let marker = "\(f.dataDir)/pods/run/\(id)/apps/web/rootfs/upper/tmp/old"
    try waitFor("the app's file") { FileSystem.exists(marker) }
    let rm = try f.liftoff(["app", "rm", "--app", "web", id], environment: Self.arm(point))
    #expect(rm.killed(at: point), "\(Self.describe(rm))")
    let store = try PodStore(root: f.dataDir)
    if point == .appRemoveMoved {
      // Killed after its commit point: pod.json still lists the app, no reader shows it.
      #expect(try store.readManifestFile(id, at: .run).app(named: "web") != nil)
      #expect(try f.statusJSON(id).apps.isEmpty)
    }
    if try f.statusJSON(id).apps.isEmpty == false {
      try f.liftoff(["app", "rm", "--app", "web", id]).check()
    }
    #expect(try f.statusJSON(id).apps.isEmpty)
    let app = try runApp(f, id, "test ! -e /tmp/old")
    #expect(app.exitCode == 0, "the new app web saw the removed one's /tmp/old")
    #expect(try store.readManifestFile(id, at: .run).apps.map(\.name) == ["web"], "the old entry came back")
    try f.liftoff(["app", "rm", "--app", "web", id]).check()
    try f.liftoff(["stop", id]).check()
    try f.liftoff(["rm", id]).check()
    #expect(try f.leftovers([id]) == [])
  }

  /// `rm` of an exited CNI pod killed midway through its teardown: gc finishes it.
  @Test(arguments: teardown)
  func rmKilledThenGCLeavesNothing(_ point: FailPoint) throws {
    let f = try NetworkFixture("fptd")
    defer { f.tearDown() }
    try f.runShell("true").check()
    let ids = try f.pod.list().map(\.id)
    let id = try #require(ids.first)
    let rm = try f.pod.liftoff(f.globals + ["rm", id], environment: Self.arm(point))
    #expect(rm.killed(at: point), "\(Self.describe(rm))")
    let gc = try f.liftoff(["gc", "--grace-period", "0"])
    #expect(gc.status == 0, "\(gc.stderr)")
    #expect(try f.pod.list().isEmpty)
    #expect(try f.pod.leftovers(ids) == [])
    #expect(try f.networkLeftovers(ids) == [])
  }

  /// `stop` of a CNI sandbox killed after CNI DEL, before the release is recorded: `rm` runs DEL again
  /// (which plugins take as success) and removes all of it.
  @Test func stopKilledAfterCNIDelThenRmLeavesNothing() throws {
    let f = try NetworkFixture("fpstop")
    defer { f.tearDown() }
    let sb = try f.liftoff(["app", "sandbox", "--net=default"])
    sb.check()
    let id = sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let stop = try f.pod.liftoff(f.globals + ["stop", id], environment: Self.arm(.networkReleased))
    #expect(stop.killed(at: .networkReleased), "\(Self.describe(stop))")
    #expect(try f.pod.statusJSON(id).state == "exited")
    try f.liftoff(["stop", id]).check()
    try f.liftoff(["rm", id]).check()
    #expect(try f.pod.list().isEmpty)
    #expect(try f.pod.leftovers([id]) == [])
    #expect(try f.networkLeftovers([id]) == [])
  }

  /// `liftoff fetch` (liftoff-image) killed during a pull: no image is listed, `image gc` leaves an
  /// empty store, and the image is fetched again and runs.
  @Test(.needsRegistry, arguments: image)
  func fetchKilledLeavesNoImage(_ point: FailPoint) throws {
    let registry = try TestEnvironment.requireRegistry()
    let f = try PodFixture("fpimg")
    defer { f.tearDown() }
    let image = "\(registry)/liftoff-test/busybox:latest"
    let fetch = try f.liftoff(
      ["fetch", "--no-progress", "docker://\(image)"], timeout: 120, environment: Self.arm(point, hit: point == .imageUnpackEntry ? 3 : 1))
    #expect(fetch.killed(at: point), "\(Self.describe(fetch))")
    let list = try f.liftoff(["image", "list", "--format", "json"])
    list.check()
    #expect(!list.stdout.contains("liftoff-test/busybox"), "\(list.stdout)")
    try f.liftoff(["image", "gc"]).check()
    let store = f.dataDir + "/images"
    func entries(_ d: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: "\(store)/\(d)")) ?? [] }
    #expect(entries("layers") == [])
    #expect(entries("blobs/sha256") == [])
    #expect(entries("refs/ids") == [])
    #expect(entries("tmp").filter { !$0.hasSuffix(".lock") } == [])
    let again = try f.liftoff(["fetch", "--no-progress", "docker://\(image)"], timeout: 120)
    again.check()
    #expect(try f.liftoff(["image", "list"]).stdout.contains("liftoff-test/busybox"))
    let run = try f.liftoff(["run", "docker://\(image)", "--exec", "/bin/sh", "--", "-c", "echo ran"], timeout: 60)
    #expect(run.status == 0 && run.stdout.contains("ran"), "\(run.stderr)")
  }

  /// Armed for a hit that never comes (`@2` of a point `run` passes once), the variable travels with
  /// stage0 and stage1 but never into an app's environment.
  @Test func theVariableNeverReachesAnApp() throws {
    let f = try PodFixture("fpenv")
    defer { f.tearDown() }
    let r = try f.liftoff(["run", f.rootfs, "--exec", "/bin/env"], environment: Self.arm(.podDirCreated, hit: 2))
    r.check()
    #expect(r.stdout.contains("PATH="), "\(r.stdout)")
    #expect(!r.stdout.contains(FailPoint.environmentVariable), "\(r.stdout)")
    // A near miss arms nothing.
    let near = try f.liftoff(["run", f.rootfs, "--exec", "/bin/true"], environment: [FailPoint.environmentVariable: "stage0.pod-dir"])
    near.check()
  }
}
