// Blob verification, crash safety of pulls (SIGKILL halfway), removal and gc.
import Foundation
import LiftoffCore
import LiftoffTestSupport
import Testing

@testable import LiftoffImage

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct ContentStoreTests {
  @Test func aBlobWithTheWrongDigestLeavesNothingVisible() throws {
    let t = TempDir("cs")
    defer { t.cleanup() }
    let cs = try ContentStore(root: t.path)
    let data = Data("hello".utf8)
    let wrong = ContentStore.sha256(Data("other".utf8))
    #expect(throws: LiftoffError.self) { try cs.put(data, expected: wrong) }
    #expect(FileSystem.list(t.path + "/blobs/sha256").isEmpty)
    #expect(FileSystem.list(t.path + "/tmp").isEmpty)
    // Longer than declared: refused while streaming.
    let w = try BlobWriter(store: cs, expected: ContentStore.sha256(data), expectedSize: 3)
    #expect(throws: LiftoffError.self) { try data.withUnsafeBytes { try w.write($0) } }
    #expect(FileSystem.list(t.path + "/blobs/sha256").isEmpty)
    // The right one becomes visible.
    let d = try cs.put(data, expected: ContentStore.sha256(data))
    #expect(try cs.read(d) == data)
  }

  /// The built `liftoff` (LIFTOFF_BIN_DIR's, else the one beside the test bundle); nil when neither is there.
  static var liftoffBinary: String? {
    let p = TestEnvironment.builtBinaries(containing: "liftoff") + "/liftoff"
    return FileManager.default.isExecutableFile(atPath: p) ? p : nil
  }

  /// A pull killed with SIGKILL at any moment leaves no visible, incomplete image, and the next
  /// pull succeeds; gc removes what the killed pulls left.
  @Test(.needsRegistry) func pullKilledHalfwayLeavesNoVisibleImage() async throws {
    let reg = try TestRegistry.load()
    guard let bin = ContentStoreTests.liftoffBinary else {
      Issue.record("no built liftoff (LIFTOFF_BIN_DIR, or beside \(CommandLine.arguments[0])); build it first")
      return
    }
    let t = TempDir("kill")
    defer { t.cleanup() }
    let s = try ImageStore(root: t.path + "/images", hosts: RegistryHosts(configDir: nil), platform: Platform(architecture: "amd64", os: "linux"))
    for delayMS in [5, 20, 40, 60, 90, 130, 200] {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: bin)
      p.arguments = ["fetch", "--dir", t.path, "--registry-config-dir", t.path + "/none", "--no-progress",
                     "\(reg.plain)/liftoff-test/web", "\(reg.plain)/liftoff-test/layers"]
      p.standardOutput = FileHandle.nullDevice
      p.standardError = FileHandle.nullDevice
      try p.run()
      try await Task.sleep(nanoseconds: UInt64(delayMS) * 1_000_000)
      kill(p.processIdentifier, SIGKILL)
      p.waitUntilExit()
      // Whatever is visible is complete.
      for img in s.list() {
        let r = try s.resolve(img.id)
        #expect(r.layerDirs.allSatisfy { FileSystem.isDirectory($0) })
        for d in try s.record(id: img.id).layerDigests { #expect(s.content.has(try Digest(d))) }
      }
      for d in s.content.all() {
        #expect(ContentStore.sha256(try s.content.read(d)) == d, "blob \(d) is visible but wrong")
      }
      // Every layer directory that is visible is complete: the unpack finished before the rename.
      #expect(FileSystem.list(t.path + "/images/layers").allSatisfy { !$0.hasPrefix("unpack-") })
    }
    let img = try await s.pull("\(reg.plain)/liftoff-test/web")
    #expect(try String(contentsOfFile: img.layerDirs[1] + "/www/index.html", encoding: .utf8) == "liftoff-test-web\n")
    let layers = try await s.pull("\(reg.plain)/liftoff-test/layers")
    _ = layers
    let report = try s.garbageCollect(inUse: [])
    _ = report
    #expect(FileSystem.list(t.path + "/images/tmp").allSatisfy { $0.hasSuffix(".lock") == false })
  }

  @Test(.needsRegistry) func removeAndGarbageCollect() async throws {
    let reg = try TestRegistry.load()
    let t = TempDir("gc")
    defer { t.cleanup() }
    let s = try ImageStore(root: t.path + "/images", hosts: RegistryHosts(configDir: nil), platform: Platform(architecture: "amd64", os: "linux"))
    let web = try await s.pull("\(reg.plain)/liftoff-test/web")
    let bb = try await s.pull("\(reg.plain)/liftoff-test/busybox")
    try s.tag("\(reg.plain)/liftoff-test/web:v2", id: web.id)
    // Untagging one of two tags keeps the image.
    #expect(try s.remove("\(reg.plain)/liftoff-test/web:v2").isEmpty)
    #expect(try s.resolve(web.id).names.contains("\(reg.plain)/liftoff-test/web:latest"))
    // gc with nothing unnamed removes nothing.
    var r = try s.garbageCollect(inUse: [])
    #expect(r.removedImages.isEmpty && r.removedBlobs.isEmpty && r.removedLayers.isEmpty)
    // Removing web by ID frees its www layer but not the shared busybox layer.
    #expect(try s.remove(web.id) == [web.id])
    #expect(throws: LiftoffError.self) { try s.resolve(web.id) }
    r = try s.garbageCollect(inUse: [])
    #expect(r.removedLayers.count == 1)
    #expect(FileSystem.isDirectory(bb.layerDirs[0]))
    #expect(!FileSystem.isDirectory(web.layerDirs[1]))
    // An image in use by a pod survives gc even without a name.
    #expect(try s.remove("\(reg.plain)/liftoff-test/busybox") == [bb.id])
    r = try s.garbageCollect(inUse: [bb.id])
    #expect(r.removedLayers.isEmpty)
    #expect(FileSystem.isDirectory(bb.layerDirs[0]))
    r = try s.garbageCollect(inUse: [])
    #expect(r.removedImages == [bb.id])
    #expect(FileSystem.list(t.path + "/images/layers").isEmpty)
    #expect(FileSystem.list(t.path + "/images/blobs/sha256").isEmpty)
  }

  /// A pull that found an image's blobs and layers already there (an unnamed image gc has not
  /// collected yet) pins them until its record and names are written: a gc meanwhile (RemoveImage
  /// of another image, say) keeps them. A crashed pull's pin keeps nothing and is removed.
  @Test(.needsRegistry) func aPullInFlightKeepsWhatItWillReferenceFromGC() async throws {
    let reg = try TestRegistry.load()
    let t = TempDir("pins")
    defer { t.cleanup() }
    let s = try ImageStore(root: t.path + "/images", hosts: RegistryHosts(configDir: nil), platform: Platform(architecture: "amd64", os: "linux"))
    let bb = try await s.pull("\(reg.plain)/liftoff-test/busybox")
    #expect(try s.remove(bb.id) == [bb.id])
    let rec = try s.record(id: bb.id)
    let blobs = try ([rec.id, rec.manifestDigest] + rec.layerDigests).map { try Digest($0) }
    let pin = try await s.pin(image: bb.id, blobs: blobs, chains: try rec.chainIDs.map { try Digest($0) })
    var r = try s.garbageCollect(inUse: [])
    #expect(r.removedImages.isEmpty && r.removedBlobs.isEmpty && r.removedLayers.isEmpty, "\(r)")
    #expect(FileSystem.isDirectory(bb.layerDirs[0]))
    for d in blobs { #expect(s.content.has(d), "\(d)") }
    pin.release()
    // A pin file whose flock nobody holds: its pull was killed.
    let stale = s.pinsDir + "/1-1.json"
    try Data(#"{"image":"\#(bb.id)","blobs":["\#(rec.manifestDigest)"],"chains":[]}"#.utf8).write(to: URL(fileURLWithPath: stale))
    r = try s.garbageCollect(inUse: [])
    #expect(r.removedImages == [bb.id])
    #expect(!FileSystem.exists(stale))
    #expect(FileSystem.list(t.path + "/images/blobs/sha256").isEmpty)
    #expect(FileSystem.list(s.pinsDir).isEmpty)
    // And the image pulls again, whole.
    let again = try await s.pull("\(reg.plain)/liftoff-test/busybox")
    #expect(again.id == bb.id && FileSystem.isDirectory(again.layerDirs[0]))
  }
}

@Suite struct LayerKeyTests {
  /// An image whose config claims another image's diff_ids gets its own layer directory: layer
  /// directories are keyed by verified blob digests, so it cannot plant content under the other key.
  @Test func forgedDiffIDsDoNotShareLayers() async throws {
    let t = TempDir("forge")
    defer { t.cleanup() }
    let s = try ImageStore(root: t.path + "/images", hosts: RegistryHosts(configDir: nil))
    func image(_ content: String, claimedDiffID: String) async throws -> ResolvedImage {
      let tar = t.path + "/\(UUID().uuidString).tar.gz"
      try TarWriter.write([.file("who", content)], to: tar)
      let (blob, size) = try s.ingestFile(tar, expected: nil, expectedSize: nil)
      let cfg = Data(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["\#(claimedDiffID)"]}}"#.utf8)
      let cd = try s.content.put(cfg)
      let m = ImageManifest(config: Descriptor(mediaType: MediaType.ociConfig, digest: cd, size: Int64(cfg.count)),
                            layers: [Descriptor(mediaType: MediaType.ociLayerGzip, digest: blob, size: size)])
      return try await s.register(manifestData: try s.encode(m), indexDigest: nil, names: ["localhost/\(content):latest"], source: "test")
    }
    let same = "sha256:" + String(repeating: "a", count: 64)
    let honest = try await image("honest", claimedDiffID: same)
    let forged = try await image("attacker", claimedDiffID: same)
    #expect(honest.layerDirs != forged.layerDirs)
    #expect(try String(contentsOfFile: honest.layerDirs[0] + "/who", encoding: .utf8) == "honest")
    #expect(try String(contentsOfFile: forged.layerDirs[0] + "/who", encoding: .utf8) == "attacker")
  }
}
