// The image store: content store + names + unpacked layers, in shared/DESIGN.md's `images/` tree:
//   blobs/sha256/<hex>     ContentStore (verified before visible)
//   refs/names/, refs/ids/ NameRecord / ImageRecord (ImageRecord.swift)
//   layers/<chain hex>/    one read-only overlayfs lower dir per layer chain, the OCI chain-ID rule
//                          applied to the layers' verified blob digests (see ImageStore+Pull)
//   tmp/                   ingests, unpacks in progress, lock files
//   pins/, gc.lock         what pulls in flight will reference, kept from gc (ImageStore+Pins.swift)
//   layer-usage/<chain hex> each layer's disk usage, measured when it is published (ImageStore+Usage)
// Order of a pull (crash-safe): blobs → layers (unpacked in tmp, renamed into layers/) → ImageRecord →
// NameRecords. A SIGKILL at any point leaves only tmp/ files or unreferenced blobs/layers, which `gc`
// removes; the image is visible only once its name record is in place.
import CArchive
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffOS

#if canImport(Glibc)
  import Glibc
#endif

public final class ImageStore: Sendable {
  public let root: String
  public let content: ContentStore
  public let catalog: ImageCatalog
  public let hosts: RegistryHosts
  public let platform: Platform
  /// Layer downloads in flight per pull.
  public let parallelDownloads: Int
  /// Caps on what unpacking one image may write (UnpackLimits.swift).
  public let unpackLimits: UnpackLimits

  /// The trust policy's directory (ImageStore+Trust.swift); nil: no policy, every pull accepted.
  public let trustDir: String?

  /// `root` is `<liftoff dir>/images`; created when missing.
  public init(
    root: String, hosts: RegistryHosts = RegistryHosts(), platform: Platform = .host, parallelDownloads: Int = 3,
    unpackLimits: UnpackLimits = UnpackLimits(), trustDir: String? = nil
  ) throws {
    self.root = root
    self.trustDir = trustDir
    self.content = try ContentStore(root: root)
    self.catalog = ImageCatalog(root: root)
    self.hosts = hosts
    self.platform = platform
    self.parallelDownloads = max(1, parallelDownloads)
    self.unpackLimits = unpackLimits
    try FileSystem.makeDirectories(root + "/refs/names")
    try FileSystem.makeDirectories(root + "/refs/ids")
    // Root's alone (the unpacked layers hold the images' setuid binaries and device nodes:
    // containerd's CVE-2021-41103), tightened where an older install left them 0755. Overlays
    // reach the layers as stage1 (host root) mounts them, never by a path walk from a pod.
    for d in [root, root + "/refs", root + "/layers"] { try LiftoffOS.FileSystem.makePrivateDirectory(d) }
  }

  // MARK: lookups (the read side is ImageCatalog, which liftoff's pod commands link without this module)

  var namesDir: String { catalog.namesDir }
  var idsDir: String { catalog.idsDir }
  var layersDir: String { catalog.layersDir }
  var tmpDir: String { root + "/tmp" }

  static func escape(_ name: String) -> String { ImageCatalog.escape(name) }

  func encode(_ v: some Encodable) throws -> Data {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys]
    return try e.encode(v)
  }

  public func nameRecords() -> [NameRecord] { catalog.nameRecords() }
  public func imageRecords() -> [ImageRecord] { catalog.imageRecords() }
  public func record(id: String) throws -> ImageRecord { try catalog.record(id: id) }
  public func resolveID(_ nameOrID: String) throws -> String { try catalog.resolveID(nameOrID) }
  public func resolve(_ nameOrID: String) throws -> ResolvedImage { try catalog.resolve(nameOrID) }
  public func config(_ rec: ImageRecord) throws -> ImageConfig { try catalog.config(rec) }
  public func manifest(_ rec: ImageRecord) throws -> ImageManifest { try catalog.manifest(rec) }
  public func summary(_ rec: ImageRecord, names: [NameRecord]? = nil) -> ImageSummary { catalog.summary(rec, names: names) }
  public func list() -> [ImageSummary] { catalog.list() }

  // MARK: writing records

  func writeRecord(_ r: ImageRecord) throws {
    try LiftoffOS.FileSystem.writeAtomically("\(idsDir)/\(try Digest(r.id).encoded)", r.json.serialized(), mode: 0o600)
  }

  func writeName(_ n: NameRecord) throws {
    try LiftoffOS.FileSystem.writeAtomically("\(namesDir)/\(ImageStore.escape(n.name))", n.json.serialized(), mode: 0o600)
  }

  /// Points `name` (normalised) at image `id`.
  public func tag(_ name: String, id: String) throws {
    let ref = try ImageReference(parsing: name)
    let rec = try record(id: id)
    guard let t = ref.taggedName else { throw LiftoffError.invalidArgument("tag \(name): a digest is not a tag") }
    try writeName(NameRecord(name: t, id: id, manifestDigest: rec.indexDigest ?? rec.manifestDigest))
  }

  // MARK: removal and gc

  /// Removes a name, or — given an ID (or a prefix), or a name that is the image's last tag — the
  /// image with all its names: it is gone for lookups and listings at once; its record, blobs and
  /// layers go at the next `garbageCollect` that finds no pod using it.
  /// Returns the IDs of the images removed entirely.
  @discardableResult
  public func remove(_ nameOrID: String) throws -> [String] {
    let id = try resolveID(nameOrID)
    let names = nameRecords().filter { $0.id == id }
    var byName: NameRecord?
    if let ref = try? ImageReference(parsing: nameOrID) {
      let canonical = ref.digest.map { ref.canonicalName($0) }
      byName = names.first { n in n.name == ref.taggedName || n.name == canonical }
    }
    if let n = byName, !n.name.contains("@") {
      // Untag; the image goes when no tag is left.
      try unlinkName(n.name)
      if names.contains(where: { !$0.name.contains("@") && $0.name != n.name }) { return [] }
    }
    for n in names { try unlinkName(n.name) }
    FileSystem.fsyncDirectory(namesDir)
    // The ImageRecord stays until gc, so pods still running it keep their layers.
    return [id]
  }

  func unlinkName(_ name: String) throws {
    let p = "\(namesDir)/\(ImageStore.escape(name))"
    if unlink(p) != 0 && errno != ENOENT { throw SystemCallError("unlink", errno: errno, path: p) }
  }

  public struct GCReport: Codable, Sendable {
    public var removedImages: [String] = []
    public var removedBlobs: [String] = []
    public var removedLayers: [String] = []
    public var reclaimedBytes: Int64 = 0
    enum CodingKeys: String, CodingKey { case removedImages, removedBlobs, removedLayers, reclaimedBytes }
  }

  /// Removes images that no name refers to and no pod uses (`inUse`: image IDs), then every blob
  /// and layer no remaining image references, and leftovers of interrupted pulls in tmp/.
  /// Skips blobs and layers whose pull is in progress (their lock is held).
  @discardableResult
  public func garbageCollect(inUse: Set<String>) throws -> GCReport {
    var report = GCReport()
    // Pulls and imports in flight pinned what they will reference (ImageStore+Pins.swift).
    let gcLock = try FileLock(gcLockPath)
    try gcLock.lockBlocking()
    defer { gcLock.unlock() }
    guard let pins = livePins() else { return report }
    let names = nameRecords()
    for n in names where !FileSystem.exists("\(idsDir)/\((try? Digest(n.id).encoded) ?? "-")") {
      try unlinkName(n.name)  // a name left pointing at nothing
    }
    let named = Set(names.map(\.id))
    var keepBlobs: Set<String> = []
    var keepLayers: Set<String> = []
    for r in imageRecords() {
      if !named.contains(r.id) && !inUse.contains(r.id) && !pins.images.contains(r.id) {
        unlink("\(idsDir)/\((try? Digest(r.id).encoded) ?? "-")")
        report.removedImages.append(r.id)
        continue
      }
      keepBlobs.formUnion([r.id, r.manifestDigest] + r.layerDigests)
      if let i = r.indexDigest { keepBlobs.insert(i) }
      keepLayers.formUnion(r.chainIDs.compactMap { try? Digest($0).encoded })
    }
    keepBlobs.formUnion(pins.blobs)
    keepLayers.formUnion(pins.chainHexes)
    for d in content.all() where !keepBlobs.contains(d.description) {
      if FileSystem.exists(content.lockPath(d)), let l = try? FileLock(content.lockPath(d)), !l.tryLock() { continue }
      report.reclaimedBytes += content.size(d) ?? 0
      try content.remove(d)
      report.removedBlobs.append(d.description)
    }
    for hex in FileSystem.list(layersDir) where !keepLayers.contains(hex) {
      let lockPath = "\(tmpDir)/layer-\(hex).lock"
      if FileSystem.exists(lockPath), let l = try? FileLock(lockPath), !l.tryLock() { continue }
      report.reclaimedBytes += FileSystem.diskUsage("\(layersDir)/\(hex)")
      try FileSystem.removeTree("\(layersDir)/\(hex)")
      unlink("\(layerUsageDir)/\(hex)")
      report.removedLayers.append("sha256:" + hex)
    }
    pruneLayerUsage()
    pruneTrustRecords(keep: keepBlobs)  // trust: records of manifests no image keeps (ImageStore+Trust.swift)
    content.cleanTemporary()
    for n in FileSystem.list(namesDir) + FileSystem.list(idsDir) where n.hasPrefix(".tmp-") {
      unlink("\(namesDir)/\(n)")
      unlink("\(idsDir)/\(n)")
    }
    return report
  }

  /// Image IDs that pods under `podsDir` refer to: any `sha256:<64 hex>` in a pod's pod.json or
  /// apps' app.json. Conservative on purpose: an ID mentioned anywhere keeps its image at gc.
  public static func imagesInUse(podsDir: String) -> Set<String> {
    var out: Set<String> = []
    let fm = FileManager.default
    guard let e = fm.enumerator(atPath: podsDir) else { return out }
    while let rel = e.nextObject() as? String {
      if rel.split(separator: "/").count > 5 { e.skipDescendants(); continue }
      guard rel.hasSuffix("pod.json") || rel.hasSuffix("app.json") else { continue }
      guard let text = try? String(contentsOfFile: "\(podsDir)/\(rel)", encoding: .utf8) else { continue }
      var rest = Substring(text)
      while let r = rest.range(of: "sha256:") {
        let hex = rest[r.upperBound...].prefix(64)
        if hex.count == 64 && Digest.isHexPrefix(hex) { out.insert("sha256:" + hex) }
        rest = rest[r.upperBound...]
      }
    }
    return out
  }

  // MARK: layers

  static func chainIDs(_ diffIDs: [String]) throws -> [Digest] {
    var out: [Digest] = []
    for s in diffIDs {
      let d = try Digest(s)
      if let parent = out.last {
        out.append(ContentStore.sha256(ChainID.input(parent: parent, diffID: d)))
      } else {
        out.append(d)
      }
    }
    return out
  }

  func layerDir(_ chain: Digest) -> String { "\(layersDir)/\(chain.encoded)" }

  /// The unpack budget of one image pull or import: the limits, and what the disk has free.
  func unpackBudget() -> UnpackBudget { UnpackBudget(unpackLimits, dir: tmpDir) }

  /// A fresh directory in tmp/ for an unpack.
  func makeUnpackDir() throws -> String {
    let p = "\(tmpDir)/unpack-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    guard mkdir(p, 0o755) == 0 else { throw SystemCallError("mkdir", errno: errno, path: p) }
    chmod(p, 0o755)
    return p
  }

  /// Syncs an unpacked tree and renames it to layers/<chain>. If another process got there first,
  /// its copy is kept.
  func publishLayer(_ tmp: String, chain: Digest) throws {
    let fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 {
      syncfs(fd)
      close(fd)
    }
    let dest = layerDir(chain)
    if rename(tmp, dest) != 0 {
      let e = errno
      try? FileSystem.removeTree(tmp)
      if e == EEXIST || e == ENOTEMPTY { return }
      throw SystemCallError("rename", errno: e, path: dest)
    }
    FileSystem.fsyncDirectory(layersDir)
    recordLayerUsage(chain.encoded)  // ImageStore+Usage.swift: ImageFsInfo sums these records
  }

  /// Unpacks a stored blob into layers/<chain> unless it is there already, charging `budget`.
  func ensureLayer(blob: Digest, chain: Digest, budget: UnpackBudget) async throws {
    if FileSystem.isDirectory(layerDir(chain)) { return }
    let lock = try FileLock("\(tmpDir)/layer-\(chain.encoded).lock")
    try await lock.lock()
    defer { lock.unlock() }
    if FileSystem.isDirectory(layerDir(chain)) { return }
    let tmp = try makeUnpackDir()
    let path = content.path(blob)
    do {
      let account = budget.account()
      _ = try await runOnThread { try LayerUnpacker.unpack(archivePath: path, into: tmp, layer: blob.description, budget: account) }
    } catch {
      try? FileSystem.removeTree(tmp)
      throw error
    }
    try publishLayer(tmp, chain: chain)
  }
}
