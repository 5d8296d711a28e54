// PodIndex's reads of the disk race each other: the watcher's read of a pod (on stage1's datagram),
// an RPC's own read after it changed the pod, and the 10 s full reload. These tests hold one read back
// while a later one completes, and check that the stale view never replaces the newer one — under
// stress.py load it once did, and a container just created was NOT_FOUND by StartContainer.
import Foundation
import LiftoffCore
import LiftoffPod
import Synchronization
import Testing

@testable import LiftoffCRI

@Suite struct PodIndexOrderingTests {
  static let podID = String(repeating: "a", count: 64)

  /// The pod as the disk has it, with or without container `c1`.
  static func sandbox(withContainer: Bool) throws -> CRISandbox {
    var apps: [AppManifest] = []
    if withContainer {
      apps.append(
        AppManifest(
          name: "c1", image: AppImage(name: "busybox", id: "sha256:00", layerDirs: []), exec: ["sh"], env: [], capabilities: [],
          annotations: [CRIKeys.kind: CRIKeys.containerKind]))
    }
    let manifest = PodManifest(id: podID, createdAt: "", hostname: "h", network: PodNetwork(mode: .none), mutable: true, apps: apps)
    let status = try JSONDecoder().decode(PodStatus.self, from: Data(#"{"state":"running","id":"\#(podID)","apps":[]}"#.utf8))
    return CRISandbox(id: podID, place: .run, manifest: manifest, status: status)
  }

  /// A disk whose reads can be held: a held read takes its view when it begins, then waits until
  /// released before it returns (as a read that was descheduled between reading and storing).
  final class Disk: Sendable {
    let pod: Mutex<CRISandbox?>
    let holdNext = Mutex(false)
    let reading = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    init(_ pod: CRISandbox?) { self.pod = Mutex(pod) }

    func read() -> CRISandbox? {
      let view = pod.withLock { $0 }
      if holdNext.withLock({ h in defer { h = false }; return h }) {
        reading.signal()
        release.wait()
      }
      return view
    }
  }

  func index(_ disk: Disk) -> PodIndex {
    PodIndex(read: { _ in disk.read() }, readAll: { disk.read().map { [$0] } ?? [] }, changed: { _, _ in })
  }

  /// Runs `body` on a thread of its own; the returned semaphore is signalled when it is done.
  func onThread(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
      body()
      done.signal()
    }
    return done
  }

  @Test func aStaleRefreshDoesNotUndoALaterOne() throws {
    let disk = Disk(try Self.sandbox(withContainer: false))
    let index = index(disk)
    try index.reload()
    // The watcher's read begins before the container is written, and is held.
    disk.holdNext.withLock { $0 = true }
    let watcher = onThread { index.refresh(Self.podID) }
    disk.reading.wait()
    // CreateContainer writes pod.json and reads the pod again: the index has the container.
    disk.pod.withLock { $0 = try? Self.sandbox(withContainer: true) }
    index.refresh(Self.podID)
    #expect(try index.sandbox(holding: "c1")?.id == Self.podID)
    // The watcher's stale view lands afterwards: it must not put back the pod without the container.
    disk.release.signal()
    watcher.wait()
    #expect(try index.sandbox(holding: "c1")?.id == Self.podID)
  }

  @Test func aStaleReloadKeepsWhatWasReadAgainSinceItBegan() throws {
    let disk = Disk(try Self.sandbox(withContainer: false))
    let index = index(disk)
    try index.reload()
    disk.holdNext.withLock { $0 = true }
    let reload = onThread { try? index.reload() }
    disk.reading.wait()
    disk.pod.withLock { $0 = try? Self.sandbox(withContainer: true) }
    index.refresh(Self.podID)
    disk.release.signal()
    reload.wait()
    #expect(try index.sandbox(holding: "c1")?.id == Self.podID)
    // A pod removed while a reload was under way stays removed.
    disk.holdNext.withLock { $0 = true }
    let second = onThread { try? index.reload() }
    disk.reading.wait()
    disk.pod.withLock { $0 = nil }
    index.refresh(Self.podID)
    disk.release.signal()
    second.wait()
    #expect(try index.sandbox(id: Self.podID) == nil)
  }

  @Test func aLaterReadStillReplacesAnEarlierOne() throws {
    let disk = Disk(try Self.sandbox(withContainer: false))
    let index = index(disk)
    try index.reload()
    #expect(try index.sandbox(holding: "c1") == nil)
    disk.pod.withLock { $0 = try? Self.sandbox(withContainer: true) }
    index.refresh(Self.podID)
    #expect(try index.sandbox(holding: "c1")?.id == Self.podID)
    disk.pod.withLock { $0 = try? Self.sandbox(withContainer: false) }
    try index.reload()
    #expect(try index.sandbox(holding: "c1") == nil)
  }
}
