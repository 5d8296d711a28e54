// Decompression bombs through the real registry (hack/test-env.sh's plain registry; images built here
// as OCI layouts and pushed with hack/push-image.py): a 2 GiB file of zeros in a ~2 MB gzip layer,
// many files across two layers, and 5000 empty files fail the pull against the image's unpack limits
// — naming the layer, the entry and the limit — and leave no layer, blob or temporary tree behind.
// On a small tmpfs the free-space reserve stops the bomb before the disk is full.
import Foundation
import LiftoffCore
import LiftoffTestSupport
import Testing

@testable import LiftoffImage

#if canImport(Glibc)
  import Glibc
#endif

@Suite(.serialized) struct UnpackLimitsTests {
  static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

  func store(_ dir: String, _ limits: UnpackLimits) throws -> ImageStore {
    try ImageStore(root: dir + "/images", hosts: RegistryHosts(configDir: nil), platform: Platform(architecture: "amd64", os: "linux"),
                   unpackLimits: limits)
  }

  /// A gzip tar of `entries`.
  static func gzipTar(_ entries: [TarEntry]) throws -> [UInt8] {
    let t = TempDir("tar")
    defer { t.cleanup() }
    try TarWriter.write(entries, to: t.path + "/layer.tar.gz")
    return Array(try Data(contentsOf: URL(fileURLWithPath: t.path + "/layer.tar.gz")))
  }

  /// One file of 2 GiB of zeros: ~2 MB of gzip, made once (it takes ~10 s).
  static let bomb: [UInt8]? = try? gzipTar([.dir("data"), .zeros("data/big", size: 2 << 30)])

  /// gzip tars of `layers` pushed as an image to the plain test registry; returns the image and its reference.
  func push(_ layers: [[TarEntry]], _ t: TempDir, _ reg: TestRegistry) throws -> (FakeImage, String) {
    try push(blobs: layers.map { try Self.gzipTar($0) }, t, reg)
  }

  func push(blobs: [[UInt8]], _ t: TempDir, _ reg: TestRegistry) throws -> (FakeImage, String) {
    let image = try FakeImage.make(in: t.path, layers: blobs)
    try image.writeLayout(to: t.path + "/layout")
    let ref = "\(reg.plain)/liftoff-test/bomb-\(UInt32.random(in: 0...UInt32.max))"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    p.arguments = [Self.repoRoot + "/hack/push-image.py", t.path + "/layout", ref + ":latest"]
    try p.run()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw LiftoffError.internal("push-image.py \(ref) failed") }
    return (image, ref)
  }

  /// The store holds nothing of a failed pull: no layer, no layer blob, no unpack or ingest left in tmp/.
  func expectNothingLeft(_ s: ImageStore, _ image: FakeImage, sourceLocation: SourceLocation = #_sourceLocation) throws {
    #expect(FileSystem.list(s.root + "/layers").isEmpty, sourceLocation: sourceLocation)
    for l in image.layers { #expect(!s.content.has(try Digest(FakeImage.digest(l))), sourceLocation: sourceLocation) }
    #expect(FileSystem.list(s.root + "/tmp").allSatisfy { $0.hasSuffix(".lock") }, "\(FileSystem.list(s.root + "/tmp"))", sourceLocation: sourceLocation)
    #expect(s.list().isEmpty, sourceLocation: sourceLocation)
  }

  func pullError(_ s: ImageStore, _ ref: String) async -> LiftoffError? {
    do {
      _ = try await s.pull(ref)
      return nil
    } catch let e as LiftoffError { return e } catch { return LiftoffError(.internal, "\(error)") }
  }

  @Test(.needsRegistry) func gzipBombIsStoppedAtTheByteLimit() async throws {
    let reg = try TestRegistry.load()
    let t = TempDir("bomb")
    defer { t.cleanup() }
    let (image, ref) = try push(blobs: [try #require(Self.bomb)], t, reg)
    #expect(image.layer.count < 4 << 20, "the bomb is \(image.layer.count) bytes compressed")
    let s = try store(t.sub("store"), UnpackLimits(maxBytes: 64 << 20))
    let e = await pullError(s, ref)
    #expect(e?.code == .resourceExhausted)
    #expect(e?.message == "layer \(image.layerDigest): entry \"data/big\": unpacking would exceed 64 MiB of file content for the image (max-unpacked-bytes)", "\(String(describing: e))")
    try expectNothingLeft(s, image)
  }

  /// The limit is per image: two layers of 48 MiB each with a 64 MiB limit fail in the second.
  @Test(.needsRegistry) func theByteLimitCountsEveryLayerOfTheImage() async throws {
    let reg = try TestRegistry.load()
    let t = TempDir("bomb")
    defer { t.cleanup() }
    let files = (0..<12).map { TarEntry.zeros(String(format: "f%02d", $0), size: 8 << 20) }
    let (image, ref) = try push([Array(files[0..<6]), Array(files[6...])], t, reg)
    // One layer at a time, so which one crosses the limit is certain.
    let s = try ImageStore(root: t.sub("store") + "/images", hosts: RegistryHosts(configDir: nil), platform: Platform(architecture: "amd64", os: "linux"),
                           parallelDownloads: 1, unpackLimits: UnpackLimits(maxBytes: 64 << 20))
    let e = await pullError(s, ref)
    #expect(e?.message == "layer \(FakeImage.digest(image.layers[1])): entry \"f08\": unpacking would exceed 64 MiB of file content for the image (max-unpacked-bytes)", "\(String(describing: e))")
    // The first layer was fine on its own and stays (a later pull with higher limits reuses it); the
    // second left nothing.
    #expect(FileSystem.list(s.root + "/layers").count == 1)
    #expect(!s.content.has(try Digest(FakeImage.digest(image.layers[1]))))
    #expect(FileSystem.list(s.root + "/tmp").allSatisfy { $0.hasSuffix(".lock") })
    #expect(s.list().isEmpty)
    // With room for both it is an ordinary image.
    let s2 = try store(t.sub("store2"), UnpackLimits(maxBytes: 96 << 20))
    let img = try await s2.pull(ref)
    #expect(FileSystem.size(img.layerDirs[1] + "/f11") == 8 << 20)
  }

  @Test(.needsRegistry) func inodeBombIsStoppedAtTheEntryLimit() async throws {
    let reg = try TestRegistry.load()
    let t = TempDir("bomb")
    defer { t.cleanup() }
    let (image, ref) = try push([[.dir("d")] + (0..<5000).map { TarEntry.file("d/\($0)", "") }], t, reg)
    let s = try store(t.sub("store"), UnpackLimits(maxEntries: 1000))
    let e = await pullError(s, ref)
    #expect(e?.code == .resourceExhausted)
    #expect(e?.message == "layer \(image.layerDigest): entry \"d/999\": unpacking would exceed 1000 entries for the image (max-unpacked-entries)", "\(String(describing: e))")
    try expectNothingLeft(s, image)
  }

  /// A store on a 256 MiB tmpfs, default limits (64 GiB): the 2 GiB bomb stops when the file system
  /// would keep less than 5 % free, not when it is full.
  @Test(.enabled(if: geteuid() == 0, "mounting a tmpfs needs root"), .needsRegistry)
  func theDiskReserveStopsABombWhereTheLimitIsAboveTheDisk() async throws {
    let reg = try TestRegistry.load()
    let t = TempDir("bomb")
    defer { t.cleanup() }
    let (image, ref) = try push(blobs: [try #require(Self.bomb)], t, reg)
    let small = t.sub("small")
    guard "size=256m,mode=0755".withCString({ mount("tmpfs", small, "tmpfs", 0, $0) }) == 0 else {
      Issue.record("mount tmpfs: \(String(cString: strerror(errno)))")
      return
    }
    defer { umount2(small, Int32(MNT_DETACH)) }
    let s = try store(small, UnpackLimits())
    let e = await pullError(s, ref)
    #expect(e?.code == .resourceExhausted)
    #expect(e?.message.hasPrefix("layer \(image.layerDigest): entry \"data/big\": unpacking would exceed ") == true, "\(String(describing: e))")
    #expect(e?.message.hasSuffix("of file content for the image (the free space of the file system of \(small)/images/tmp, less its 5% reserve)") == true, "\(String(describing: e))")
    try expectNothingLeft(s, image)
    var fs = statvfs()
    #expect(statvfs(small, &fs) == 0 && fs.f_bavail > fs.f_blocks / 2, "the tmpfs filled up")
  }

  /// liftoff-image fetch takes the limits as flags.
  @Test(.needsRegistry, .enabled(if: TestEnvironment.binDir != nil, "needs LIFTOFF_BIN_DIR (the directory of the built liftoff-image)"))
  func fetchTakesTheLimitsAsFlags() async throws {
    let reg = try TestRegistry.load()
    let bin = try #require(TestEnvironment.binDir)
    let t = TempDir("bomb")
    defer { t.cleanup() }
    let (image, ref) = try push([[.dir("d")] + (0..<300).map { TarEntry.file("d/\($0)", "") }], t, reg)
    func fetch(_ args: [String]) throws -> (status: Int32, stderr: String) {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: bin + "/liftoff-image")
      p.arguments = ["fetch", "--dir", t.path + "/data", "--no-progress"] + args + [ref]
      let err = Pipe()
      p.standardError = err
      try p.run()
      let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      p.waitUntilExit()
      return (p.terminationStatus, text)
    }
    let r = try fetch(["--max-unpacked-entries", "100"])
    #expect(r.status == 1)
    #expect(r.stderr == "liftoff: layer \(image.layerDigest): entry \"d/99\": unpacking would exceed 100 entries for the image (max-unpacked-entries)\n", "\(r.stderr)")
    let bad = try fetch(["--max-unpacked-bytes", "lots"])
    #expect(bad.status == 2)
    #expect(bad.stderr.contains("--max-unpacked-bytes \"lots\": want a positive size"), "\(bad.stderr)")
  }

  @Test func sizesAndCounts() throws {
    #expect(try UnpackLimits.parseSize("123", setting: "x") == 123)
    #expect(try UnpackLimits.parseSize("64G", setting: "x") == 64 << 30)
    #expect(try UnpackLimits.parseSize("512MiB", setting: "x") == 512 << 20)
    #expect(try UnpackLimits.parseSize("2t", setting: "x") == 2 << 40)
    for bad in ["", "0", "-1", "1.5G", "12 PB", "G", "99999999999999T"] {
      #expect(throws: LiftoffError.self, "\(bad)") { try UnpackLimits.parseSize(bad, setting: "x") }
    }
    #expect(try UnpackLimits.parseCount("1000", setting: "x") == 1000)
    #expect(throws: LiftoffError.self) { try UnpackLimits.parseCount("1k", setting: "x") }
    #expect(UnpackLimits.describe(64 << 30) == "64 GiB")
    #expect(UnpackLimits.describe(1536) == "1.5 KiB")
    #expect(UnpackLimits.describe(100) == "100 bytes")
  }
}
