import Foundation
import LiftoffCore
import LiftoffNet
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// Root integration tests of the pod lifecycle: exit status, signals, OOM, several apps, stop,
/// rm, gc, and crashes of stage0 and stage1 at various points.
@Suite(.needsRoot)
struct PodLifecycleTests {
  @Test func exitCodesPropagate() throws {
    let f = try PodFixture("exit")
    defer { f.tearDown() }
    #expect(try f.runShell("exit 3").status == 3)
    #expect(try f.runShell("exit 0").status == 0)
    let pods = try f.list()
    #expect(pods.count == 2)
    #expect(Set(pods.map(\.state)) == ["exited"])
    #expect(Set(pods.compactMap(\.exitCode)) == [0, 3])
    let failed = try #require(pods.first { $0.exitCode == 3 })
    #expect(failed.apps.first?.reason == "Error")
  }

  @Test func severalAppsExitWithTheFirstFailure() throws {
    let f = try PodFixture("multi")
    defer { f.tearDown() }
    let r = try f.liftoff([
      "run", f.rootfs, "--name", "a", "--exec", "/bin/sh", "--", "-c", "sleep 0.3; exit 4", "---",
      f.rootfs, "--name", "b", "--exec", "/bin/sh", "--", "-c", "exit 0",
    ])
    #expect(r.status == 4, "\(r.stderr)")
    let pod = try #require(try f.list().first)
    #expect(pod.apps.map(\.name) == ["a", "b"])
    #expect(pod.apps.map(\.exitCode) == [4, 0])
  }

  @Test func execFailureIsReported() throws {
    let f = try PodFixture("noexec")
    defer { f.tearDown() }
    let r = try f.liftoff(["run", f.rootfs, "--exec", "/no/such/binary"])
    #expect(r.status == 127)
    #expect(r.stderr.contains("/no/such/binary"), "\(r.stderr)")
    #expect(try f.list().first?.apps.first?.reason == "StartFailed")
  }

  @Test func memoryLimitKillsAHogAndStatusShowsOOM() throws {
    let f = try PodFixture("oom")
    defer { f.tearDown() }
    let r = try f.runShell("x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived", app: ["--memory", "16M"])
    #expect(r.status == 137, "\(r)")
    #expect(!r.stdout.contains("survived"))
    let app = try #require(try f.list().first?.apps.first)
    #expect(app.reason == "OOMKilled")
    #expect(app.signal == 9)
  }

  @Test func stopSendsTheStopSignalThenTheExitIsRecorded() throws {
    let f = try PodFixture("stop")
    defer { f.tearDown() }
    let running = try f.start(["run", f.rootfs, "--exec", "/bin/sh", "--", "-c", "trap 'exit 42' TERM; while true; do sleep 0.05; done"])
    let id = try f.waitForRunningPod()
    let stop = try f.liftoff(["stop", String(id.prefix(10))])
    #expect(stop.status == 0, "\(stop.stderr)")
    let r = try f.finish(running)
    #expect(r.status == 42)
    let s = try f.statusJSON(id)
    #expect(s.state == "exited")
    #expect(s.apps.first?.exitCode == 42)
    // Stopping again succeeds (already stopped).
    #expect(try f.liftoff(["stop", id]).status == 0)
  }

  @Test func stopEscalatesToSIGKILLAndSignalsShowInStatus() throws {
    let f = try PodFixture("kill")
    defer { f.tearDown() }
    // PID 1 without a TERM handler ignores SIGTERM: the timeout must escalate.
    let running = try f.start(["run", f.rootfs, "--exec", "/bin/sleep", "--", "1000"])
    let id = try f.waitForRunningPod()
    let t0 = Date()
    #expect(try f.liftoff(["stop", "--timeout", "1", id]).status == 0)
    #expect(Date().timeIntervalSince(t0) < 10)
    #expect(try f.finish(running).status == 137)
    let app = try #require(try f.statusJSON(id).apps.first)
    #expect(app.signal == 9 && app.exitCode == 137)
  }

  @Test func enterRunsInTheAppsNamespaces() throws {
    let f = try PodFixture("enter")
    defer { f.tearDown() }
    let running = try f.start(["run", "--hostname", "entered", f.rootfs, "--exec", "/bin/sleep", "--", "1000"])
    let id = try f.waitForRunningPod()
    let r = try f.liftoff(["enter", id, "/bin/sh", "-c", "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; ls /proc | grep -c '^[0-9]'"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.hasPrefix("entered\n/bin/sleep 1000 \n"), "\(r.stdout)")
    #expect(try f.liftoff(["enter", id, "/bin/sh", "-c", "exit 7"]).status == 7)
    #expect(try f.liftoff(["stop", "--force", id]).status == 0)
    _ = try f.finish(running)
  }

  @Test func rmRefusesARunningPodAndConcurrentRemovesAreSafe() throws {
    let f = try PodFixture("rm")
    defer { f.tearDown() }
    let running = try f.start(["run", f.rootfs, "--exec", "/bin/sleep", "--", "1000"])
    let id = try f.waitForRunningPod()
    let refused = try f.liftoff(["rm", id])
    #expect(refused.status != 0 && refused.stderr.contains("running"))
    #expect(try f.liftoff(["stop", "--force", id]).status == 0)
    _ = try f.finish(running)
    let a = try f.start(["rm", id])
    let b = try f.start(["rm", id])
    let ra = try f.finish(a), rb = try f.finish(b)
    #expect([ra.status, rb.status].filter { $0 == 0 }.count == 1, "\(ra) \(rb)")
    #expect(try f.leftovers([id]).isEmpty)
    #expect(try f.liftoff(["status", id]).status != 0)
  }

  @Test func prepareThenRunPreparedAndCatManifest() throws {
    let f = try PodFixture("prep")
    defer { f.tearDown() }
    let p = try f.liftoff(["prepare", f.rootfs, "--exec", "/bin/sh", "--", "-c", "exit 5"])
    #expect(p.status == 0, "\(p.stderr)")
    let id = p.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(PodID.isValid(id))
    #expect(try f.statusJSON(id).state == "prepared")
    let m = try f.liftoff(["cat-manifest", String(id.prefix(8))])
    #expect(try PodManifest.parse(m.stdout).id == id)
    #expect(try f.liftoff(["run-prepared", id]).status == 5)
    let again = try f.liftoff(["run-prepared", id])
    #expect(again.status != 0 && again.stderr.contains("not prepared") || again.stderr.contains("run"))
  }

  @Test func badInputGetsClearErrorsAndWritesNothing() throws {
    let f = try PodFixture("bad")
    defer { f.tearDown() }
    let cases: [([String], String)] = [
      (["run", f.base + "/nope", "--exec", "/bin/true"], "not found"),
      (["run", f.rootfs, "--memory", "lots", "--exec", "/bin/true"], "memory"),
      (["run", f.rootfs, "--volume", "relative:/x", "--exec", "/bin/true"], "absolute"),
      (["run", f.rootfs, "--volume", "/tmp:../x", "--exec", "/bin/true"], ".."),
      (["run", f.rootfs], "entrypoint"),
      (["run", "--net", "bogus", f.rootfs, "--exec", "/bin/true"], "bogus"),
      (["status", "zz"], "invalid pod id"),
      (["status", "abc"], "not found"),
    ]
    for (args, needle) in cases {
      let r = try f.liftoff(args)
      #expect(r.status != 0, "\(args)")
      #expect(r.stderr.contains(needle), "\(args): \(r.stderr)")
    }
    for p in try f.list() { #expect(p.state == "garbage", "\(p)") }
  }
}

/// Crash safety: stage0 and stage1 killed with SIGKILL at various points, then `liftoff gc`.
@Suite(.needsRoot)
struct PodCrashTests {
  @Test func sigkillOfStage1ThenGCLeavesNothing() throws {
    let f = try PodFixture("crash1")
    defer { f.tearDown() }
    let running = try f.start(["run", "--net", "none", f.rootfs, "--memory", "64M", "--exec", "/bin/sleep", "--", "1000"])
    let id = try f.waitForRunningPod()
    let s = try f.statusJSON(id)
    let stage1 = try #require(s.pid)
    let appPid = try #require(s.apps.first?.pid)
    kill(stage1, SIGKILL)
    _ = try f.finish(running)
    // The app dies with its supervisor (parent-death signal).
    var gone = false
    for _ in 0..<200 where !gone {
      gone = kill(appPid, 0) != 0
      usleep(10_000)
    }
    #expect(gone)
    #expect(try f.statusJSON(id).state == "exited")
    let gc = try f.liftoff(["gc", "--grace-period", "0"])
    #expect(gc.status == 0, "\(gc.stderr)")
    #expect(try f.leftovers([id]).isEmpty)
  }

  @Test func sigkillOfStage1InFlyThenGCUnmountsEverything() throws {
    let f = try PodFixture("crashfly")
    defer { f.tearDown() }
    let running = try f.start(["run", "--stage1", "fly", "--net", "host", f.rootfs, "--exec", "/bin/sleep", "--", "1000"])
    let id = try f.waitForRunningPod()
    let canonical = try Mounts.canonical(f.dataDir)
    #expect(try Mounts.mountPoints().contains { $0.hasPrefix(canonical + "/") })
    kill(try #require(try f.statusJSON(id).pid), SIGKILL)
    _ = try f.finish(running)
    #expect(try f.liftoff(["gc", "--grace-period", "0"]).status == 0)
    #expect(try f.leftovers([id]).isEmpty)
  }

  /// The named moments of a pod's start are FailPointTests' (`LIFTOFF_FAILPOINT`); this kill lands at
  /// a random one, between them too (the delay is in the message when it fails).
  @Test func sigkillOfStage0AtARandomMomentThenGCLeavesNothing() throws {
    let f = try PodFixture("crash0")
    defer { f.tearDown() }
    let delayMicroseconds = Int.random(in: 0...80_000)
    let running = try f.start(["run", "--net", "none", f.rootfs, "--exec", "/bin/sleep", "--", "1000"])
    usleep(UInt32(delayMicroseconds))
    // Stage0 becomes stage1 by exec: this kills whichever of them is running now.
    kill(running.process.processIdentifier, SIGKILL)
    _ = try f.finish(running)
    let ids = try f.list().map(\.id)
    usleep(50_000)  // parent-death signals are delivered asynchronously
    let gc = try f.liftoff(["gc", "--grace-period", "0"])
    #expect(gc.status == 0, "\(gc.stderr)")
    let left = try f.leftovers(ids)
    #expect(left.isEmpty, "killed after \(delayMicroseconds) µs: \(left)")
    let pods = try f.list()
    #expect(pods.isEmpty, "killed after \(delayMicroseconds) µs: \(pods)")
  }

  @Test func halfMadePodsAreCollected() throws {
    let f = try PodFixture("half")
    defer { f.tearDown() }
    let store = try PodStore(root: f.dataDir)
    // A creator that died in embryo, one that died preparing, and one that died between the
    // move to run/ and the exec of stage1 (its netns already created).
    let (a, la) = try store.createEmbryo()
    let (b, lb) = try store.createEmbryo()
    try store.move(b, from: .embryo, to: .prepare)
    var o = PodOptions()
    var app = AppOptions(image: try RootfsDirectoryResolver().resolve(f.rootfs), imageName: f.rootfs)
    app.exec = "/bin/true"
    o.apps = [app]
    let (m, lc) = try PodPreparer(store: store).prepare(o)
    try store.move(m.id, from: .prepared, to: .run)
    _ = try NetworkNamespace.create(name: "liftoff-\(m.id)")
    // A live creator's embryo must survive gc.
    let (live, liveLock) = try store.createEmbryo()
    la.unlock()
    lb.unlock()
    lc.unlock()
    let gc = try f.liftoff(["gc", "--grace-period", "0"])
    #expect(gc.status == 0, "\(gc.stderr)")
    #expect(try f.leftovers([a, b, m.id]).isEmpty)
    #expect(store.locate(live) == .embryo)
    liveLock.unlock()
  }

  @Test func gracePeriodKeepsRecentlyExitedPods() throws {
    let f = try PodFixture("grace")
    defer { f.tearDown() }
    #expect(try f.runShell("true").status == 0)
    #expect(try f.liftoff(["gc", "--grace-period", "1h"]).status == 0)
    #expect(try f.list().count == 1)
    #expect(try f.liftoff(["gc", "--grace-period", "0"]).status == 0)
    #expect(try f.list().isEmpty)
  }
}
