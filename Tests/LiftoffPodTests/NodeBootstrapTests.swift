// rkt's node-bootstrap conveniences through the real `liftoff` binary, as a systemd unit would use
// them: `run --uuid-file-save`, `status --wait-ready`, `stop|rm|status --uuid-file`, `prepare
// --uuid-file-save`, and their errors.
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct NodeBootstrapTests {
  @Test(.needsRoot) func uuidFileAndWaitReady() throws {
    let f = try PodFixture("uuidfile")
    defer { f.tearDown() }
    let uuidFile = f.base + "/pod.uuid"
    let running = try f.start(["run", "--uuid-file-save", uuidFile, f.rootfs, "--exec", "/bin/sleep", "--", "1000"])
    try waitFor("the uuid file") { FileManager.default.fileExists(atPath: uuidFile) }
    let id = try String(contentsOfFile: uuidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(id.count == 64 || id.count == 36, "\(id)")

    let ready = try f.liftoff(["status", "--wait-ready", "--format", "json", "--uuid-file", uuidFile], timeout: 30)
    ready.check()
    let status = try JSONDecoder().decode(PodStatus.self, from: Data(ready.stdout.utf8))
    #expect(status.id == id)
    #expect(status.state == "running")
    #expect(!status.apps.isEmpty && status.apps.allSatisfy { $0.state == "running" })

    let stop = try f.liftoff(["stop", "--timeout", "1", "--uuid-file", uuidFile])
    stop.check()
    #expect(stop.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == id)
    _ = try f.finish(running)
    let after = try f.liftoff(["status", "--uuid-file", uuidFile])
    after.check()
    #expect(after.stdout.contains("state=exited"), "\(after.stdout)")
    // A pod that exited never becomes ready: --wait-ready says so instead of waiting.
    let notReady = try f.liftoff(["status", "--wait-ready", "--uuid-file", uuidFile], timeout: 10)
    #expect(notReady.status != 0)
    #expect(notReady.stderr.contains("before the pod was ready") || notReady.stderr.contains("will not become ready"), "\(notReady.stderr)")
    let rm = try f.liftoff(["rm", "--uuid-file", uuidFile])
    rm.check()
    #expect(rm.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == id)
    #expect(try f.list().isEmpty)
  }

  @Test(.needsRoot) func prepareSavesTheUUIDAndBadUUIDFilesAreRefused() throws {
    let f = try PodFixture("uuidfile-prep")
    defer { f.tearDown() }
    let uuidFile = f.base + "/prepared.uuid"
    let prep = try f.liftoff(["prepare", "--uuid-file-save", uuidFile, f.rootfs, "--exec", "/bin/true"])
    prep.check()
    let id = prep.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(try String(contentsOfFile: uuidFile, encoding: .utf8) == id + "\n")
    let rm = try f.liftoff(["rm", "--uuid-file", uuidFile])
    rm.check()

    // A file that cannot be written: the pod is not left behind.
    let bad = try f.liftoff(["run", "--uuid-file-save", f.base + "/no/such/dir/x.uuid", f.rootfs, "--exec", "/bin/true"])
    #expect(bad.status != 0)
    #expect(bad.stderr.contains("--uuid-file-save \(f.base)/no/such/dir/x.uuid"), "\(bad.stderr)")
    #expect(try f.list().isEmpty)

    let garbage = f.base + "/garbage.uuid"
    try "two words\n".write(toFile: garbage, atomically: true, encoding: .utf8)
    let cases: [([String], String)] = [
      (["stop"], "give a pod UUID or --uuid-file FILE"),
      (["rm", "--uuid-file", garbage, id], "not both"),
      (["status", "--uuid-file", garbage], "expected one pod UUID, found \"two words\""),
      (["stop", "--uuid-file", f.base + "/missing.uuid"], "--uuid-file \(f.base)/missing.uuid"),
      (["status", "--wait", "--wait-ready", id], "choose one"),
    ]
    for (line, fragment) in cases {
      let r = try f.liftoff(line)
      #expect(r.status != 0, "\(line)")
      #expect(r.stderr.contains(fragment), "\(line): \(r.stderr)")
    }
  }

  /// `run` fetches an image that is not in the store (rkt's --pull-policy new); never refuses; a
  /// failed fetch is an error naming the image; update fetches an image that is already there.
  @Test(.needsRoot, .needsRegistry) func runFetchesAMissingImage() throws {
    let reg = try TestEnvironment.requireRegistry()
    let f = try PodFixture("fetch")
    defer { f.tearDown() }
    let image = "\(reg)/liftoff-test/busybox"
    let never = try f.liftoff(["run", "--pull-policy", "never", image, "--exec", "/bin/true"])
    #expect(never.status != 0)
    #expect(never.stderr.contains("run `liftoff fetch \(image)` first"), "\(never.stderr)")

    let run = try f.liftoff(["run", image, "--exec", "/bin/sh", "--", "-c", "echo fetched-and-ran"], timeout: 120)
    run.check()
    #expect(run.stdout.contains("fetched-and-ran"), "\(run.stdout)")
    let list = try f.liftoff(["image", "list", "--format", "json"])
    list.check()
    #expect(list.stdout.contains("\(image):latest"), "\(list.stdout)")

    // Already stored: new does not run liftoff-image again, update does — seen through a flag only
    // liftoff-image checks (liftoff passes --insecure-options through unread).
    let stored = try f.liftoff(["--insecure-options", "bogus", "run", image, "--exec", "/bin/true"], timeout: 60)
    stored.check()
    let updateBad = try f.liftoff(["--insecure-options", "bogus", "run", "--pull-policy", "update", image, "--exec", "/bin/true"], timeout: 60)
    #expect(updateBad.status != 0)
    #expect(updateBad.stderr.contains("bogus"), "\(updateBad.stderr)")
    let update = try f.liftoff(["run", "--pull-policy", "update", image, "--exec", "/bin/true"], timeout: 120)
    update.check()

    let missing = try f.liftoff(["prepare", "\(reg)/liftoff-test/nope:1", "--exec", "/bin/true"], timeout: 60)
    #expect(missing.status != 0)
    #expect(missing.stderr.contains("image \(reg)/liftoff-test/nope:1 is not in the image store"), "\(missing.stderr)")
    #expect(missing.stderr.contains("fetching it failed"), "\(missing.stderr)")
  }
}
