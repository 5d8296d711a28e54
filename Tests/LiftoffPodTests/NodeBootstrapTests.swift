// rkt's node-bootstrap conveniences through the real `liftoff` binary, as a systemd unit would use
// them: `run --uuid-file-save`, `status --wait-ready`, `stop|rm|status --uuid-file`, `prepare
// --uuid-file-save`, and their errors.
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import Testing

@Suite(.serialized) struct NodeBootstrapTests {
  @Test func uuidFileAndWaitReady() throws {
    guard isRoot() else { return }
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

  @Test func prepareSavesTheUUIDAndBadUUIDFilesAreRefused() throws {
    guard isRoot() else { return }
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
}
