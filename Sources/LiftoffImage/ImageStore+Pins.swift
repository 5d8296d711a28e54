// Pulls and imports against gc. A pull looks at the content store (a blob already there is not fetched
// again) and only at its end writes the image record and names that keep its blobs and layers at gc.
// In between, a gc — RemoveImage, `liftoff image gc`, in this process or another — would find them
// referenced by nothing and remove them, leaving an image whose record names a missing blob. So a pull
// pins what it will reference before it looks:
//
//   pull                                       gc
//   ────                                       ──
//   gc.lock (exclusive, a moment)              gc.lock (exclusive, its whole run)
//   pins/<pid>-<random>.json, flock'ed:        each pin: its flock taken → a crashed pull's, removed;
//     image ID, blob digests, layer chains       held → its image, blobs and layers kept
//   gc.lock released
//   look, fetch, unpack, record, names         (waits for a pin being written; a pin written after
//   pin removed                                 it began cannot exist: the pull waited for gc.lock)
//
// A pin exists either before a gc begins (and is honoured) or after it ended (and the pull finds
// nothing removed under it). The pin's flock, not its file, says it is live: SIGKILL leaves a file
// whose flock is free, which the next gc removes.
import Foundation
import LiftoffCore
import LiftoffOS

#if canImport(Glibc)
  import Glibc
#endif

/// What one pull or import will reference, kept from gc until `release()` (or the process's end).
final class ImagePin: @unchecked Sendable {
  let path: String
  private let lock: FileLock

  fileprivate init(path: String, lock: FileLock) {
    self.path = path
    self.lock = lock
  }

  func release() {
    unlink(path)
    lock.unlock()
  }
}

extension ImageStore {
  var pinsDir: String { root + "/pins" }
  var gcLockPath: String { root + "/gc.lock" }

  /// Pins image `id`, blobs `blobs` (digests) and layers `chains` (chain IDs) for the pin's life.
  func pin(image id: String, blobs: [Digest], chains: [Digest]) async throws -> ImagePin {
    try FileSystem.makeDirectories(pinsDir)
    let gc = try FileLock(gcLockPath)
    try await gc.lock()
    defer { gc.unlock() }
    let path = "\(pinsDir)/\(getpid())-\(UInt64.random(in: 0...UInt64.max)).json"
    let lock = try FileLock(path)
    guard lock.tryLock() else { throw LiftoffError(.internal, "pin \(path) is locked by another process") }
    let text = JSON.obj([
      ("image", .string(id)), ("blobs", .strs(blobs.map(\.description))), ("chains", .strs(chains.map(\.description))),
    ]).serialized()
    do {
      // Written under gc.lock: no gc reads it half-written.
      try LiftoffOS.FileSystem.writeAll(lock.descriptor, Array(text.utf8), path: path)
    } catch {
      unlink(path)
      lock.unlock()
      throw error
    }
    return ImagePin(path: path, lock: lock)
  }

  /// What live pins keep (image IDs, blob digests, layer chain hexes); removes the pins of pulls that
  /// are gone. nil when a live pin cannot be read: keep everything. The caller holds gc.lock.
  func livePins() -> (images: Set<String>, blobs: Set<String>, chainHexes: Set<String>)? {
    var images: Set<String> = []
    var blobs: Set<String> = []
    var chains: Set<String> = []
    for name in FileSystem.list(pinsDir) {
      let p = "\(pinsDir)/\(name)"
      guard let l = try? FileLock(p) else { continue }
      if l.tryLock() {
        // Its pull is gone (crashed): nothing to keep.
        unlink(p)
        l.unlock()
        continue
      }
      l.unlock()
      // Live. A pin that cannot be read keeps everything: gc removes nothing this time.
      guard let j = try? JSON.parse(bytes: LiftoffOS.FileSystem.readBytes(p)), let id = j["image"]?.stringValue,
        let b = j["blobs"]?.arrayValue, let c = j["chains"]?.arrayValue
      else { return nil }
      images.insert(id)
      for d in b { if let s = d.stringValue { blobs.insert(s) } }
      for d in c { if let s = d.stringValue, let dg = try? Digest(s) { chains.insert(dg.encoded) } }
    }
    return (images, blobs, chains)
  }
}
