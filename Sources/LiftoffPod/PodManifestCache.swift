// Parsed pod manifests kept between reads by a long-lived reader (liftoff-cri answers every
// ListContainers, ContainerStatus and PodSandboxStatus from the pods on disk). A manifest is parsed
// again only when the bytes of its pod.json differ from those it was parsed from: a read and a
// compare instead of a parse, and never stale (no reliance on timestamps, which are coarse, or on
// inode numbers, which rename(2)-replaced files reuse). Entries of pods that are gone are dropped
// by `retain(only:)`.
import Glibc
import LiftoffCore
import LiftoffOS
import Synchronization

public final class PodManifestCache: Sendable {
  private let entries = Mutex<[String: (bytes: [UInt8], manifest: PodManifest)]>([:])

  public init() {}

  /// The manifest of pod `id` at `place` as it stands (PodStore.readManifest), parsed again only when
  /// its file changed.
  public func manifest(_ store: PodStore, _ id: String, at place: PodStore.Place) throws(LiftoffError) -> PodManifest {
    let podDir = store.path(place, id)
    let file = "\(podDir)/pod.json"
    let bytes: [UInt8]
    do { bytes = try FileSystem.readBytes(file) } catch {
      throw LiftoffError(error.errno == ENOENT ? .notFound : .internal, "pod \(id): no manifest", cause: error)
    }
    if let hit = entries.withLock({ $0[file] }), hit.bytes == bytes { return PodStore.standing(hit.manifest, podDir: podDir) }
    let manifest = try PodManifest.parse(String(decoding: bytes, as: UTF8.self))
    entries.withLock { $0[file] = (bytes, manifest) }
    return PodStore.standing(manifest, podDir: podDir)
  }

  /// Forgets every pod whose manifest path is not in `files` (`<pod dir>/pod.json`).
  public func retain(only files: Set<String>) {
    entries.withLock { e in
      for k in e.keys where !files.contains(k) { e.removeValue(forKey: k) }
    }
  }

  public var count: Int { entries.withLock { $0.count } }
}
