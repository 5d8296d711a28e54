// PodIndex's watcher thread: a running sandbox's stage1 is watched through a pidfd. Once that pidfd
// has fired, the pod is read again, but not again and again while the disk still shows the same
// stage1 running (as it does while StopPodSandbox's `liftoff` holds the pod's lock through its
// network teardown): a readable pidfd kept in the poll set made the watcher re-read the pod in a loop,
// a quarter of a core over each pod lifecycle.
import Foundation
import LiftoffCore
import LiftoffPod
import Synchronization
import Testing

@testable import LiftoffCRI

@Suite struct PodIndexWatcherTests {
  static let podID = String(repeating: "b", count: 64)

  static func runningSandbox(pid: Int32) throws -> CRISandbox {
    let manifest = PodManifest(id: podID, createdAt: "", hostname: "h", network: PodNetwork(mode: .none), mutable: true, apps: [])
    let status = try JSONDecoder().decode(
      PodStatus.self, from: Data(#"{"state":"running","id":"\#(podID)","pid":\#(pid),"apps":[]}"#.utf8))
    return CRISandbox(id: podID, place: .run, manifest: manifest, status: status)
  }

  @Test func aStage1ThatIsGoneIsReadOnceNotInALoop() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-podindex-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let stage1 = Process()
    stage1.executableURL = URL(fileURLWithPath: "/bin/sleep")
    stage1.arguments = ["600"]
    try stage1.run()
    defer { if stage1.isRunning { kill(stage1.processIdentifier, SIGKILL) } }
    let pod = try Self.runningSandbox(pid: stage1.processIdentifier)
    let reads = Atomic(0)
    let index = PodIndex(
      read: { _ in
        reads.add(1, ordering: .relaxed)
        return pod
      }, readAll: { [pod] }, changed: { _, _ in })
    try index.reload()
    try index.startWatching(dir: dir, logger: .init(label: "test"))
    Thread.sleep(forTimeInterval: 0.2)  // the watcher has opened the pidfd
    #expect(reads.load(ordering: .relaxed) == 0)
    // stage1 dies; the disk still says it runs (someone holds the pod's lock).
    kill(stage1.processIdentifier, SIGKILL)  // SIGTERM may be blocked in what the test runner spawns
    stage1.waitUntilExit()
    var waited = 0.0
    while reads.load(ordering: .relaxed) == 0 && waited < 5 {
      Thread.sleep(forTimeInterval: 0.01)
      waited += 0.01
    }
    #expect(reads.load(ordering: .relaxed) >= 1, "the watcher read the pod again when its stage1 exited")
    Thread.sleep(forTimeInterval: 0.5)
    let total = reads.load(ordering: .relaxed)
    #expect(total <= 2, "the watcher read the pod \(total) times in half a second after its stage1 exited")
  }
}
