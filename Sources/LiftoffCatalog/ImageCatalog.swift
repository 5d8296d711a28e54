// The image store's read side (shared/DESIGN.md's `images/` tree; ImageStore in LiftoffImage writes it):
// names and records under refs/, configs and manifests in blobs/, unpacked layers in layers/. No
// network, no archive and no hashing code: `liftoff`'s pod commands resolve images through this alone,
// so that the binary the CRI service runs for every container change does not load the registry, TLS
// and libarchive stack (about 3 ms of every start-up).
import Foundation
import LiftoffCore
import LiftoffOS

public struct ImageCatalog: Sendable {
  /// `<liftoff dir>/images`. Nothing is created: a missing tree simply holds no image.
  public let root: String

  public init(root: String) { self.root = root }

  public var namesDir: String { root + "/refs/names" }
  public var idsDir: String { root + "/refs/ids" }
  public var layersDir: String { root + "/layers" }

  /// Where a blob lives (ContentStore writes it there, verified).
  public static func blobPath(root: String, _ d: Digest) -> String { "\(root)/blobs/\(d.algorithm)/\(d.encoded)" }

  func readBlob(_ d: Digest) throws -> Data {
    do { return try Data(contentsOf: URL(fileURLWithPath: Self.blobPath(root: root, d))) } catch {
      throw LiftoffError(.notFound, "blob \(d) not in the store")
    }
  }

  /// A directory's entries; none when it is missing or unreadable.
  func list(_ dir: String) -> [String] { (try? FileSystem.list(dir)) ?? [] }

  public static func escape(_ name: String) -> String {
    var out = ""
    for u in name.unicodeScalars {
      switch u {
      case "/": out += "%2F"
      case ":": out += "%3A"
      case "@": out += "%40"
      case "%": out += "%25"
      default: out.unicodeScalars.append(u)
      }
    }
    return out
  }

  public static func unescape(_ s: String) -> String {
    s.replacingOccurrences(of: "%2F", with: "/").replacingOccurrences(of: "%3A", with: ":")
      .replacingOccurrences(of: "%40", with: "@").replacingOccurrences(of: "%25", with: "%")
  }

  /// A store file's JSON document.
  func readJSON(_ path: String) throws -> JSON {
    let bytes: [UInt8]
    do { bytes = try FileSystem.readBytes(path) } catch { throw LiftoffError.notFound("\(path) missing") }
    do { return try JSON.parse(bytes: bytes) } catch { throw LiftoffError.internal("corrupt store file \(path): \(error)") }
  }

  func nameRecord(_ path: String) throws -> NameRecord {
    do { return try NameRecord(json: readJSON(path), in: path) } catch let e as LiftoffError where e.code == .invalidArgument {
      throw LiftoffError.internal("corrupt store file \(e.message)")
    }
  }

  func imageRecord(_ path: String) throws -> ImageRecord {
    do { return try ImageRecord(json: readJSON(path), in: path) } catch let e as LiftoffError where e.code == .invalidArgument {
      throw LiftoffError.internal("corrupt store file \(e.message)")
    }
  }

  public func nameRecords() -> [NameRecord] {
    list(namesDir).filter { !$0.hasPrefix(".tmp-") }.compactMap { try? nameRecord("\(namesDir)/\($0)") }
  }

  public func imageRecords() -> [ImageRecord] {
    list(idsDir).filter { !$0.hasPrefix(".tmp-") }.compactMap { try? imageRecord("\(idsDir)/\($0)") }
  }

  public func record(id: String) throws -> ImageRecord {
    let d = try Digest(id)
    let p = "\(idsDir)/\(d.encoded)"
    guard FileSystem.exists(p) else { throw LiftoffError.notFound("image \(id) not found") }
    return try imageRecord(p)
  }

  /// The image ID for a name (`busybox`, `host/repo:tag`, `host/repo@sha256:…`), a full ID
  /// (`sha256:…`) or a unique ID prefix.
  public func resolveID(_ nameOrID: String) throws -> String {
    var names: [NameRecord]?
    return try resolveID(nameOrID, names: &names)
  }

  /// `names`: the name records once read (resolve needs them again).
  func resolveID(_ nameOrID: String, names: inout [NameRecord]?) throws -> String {
    let s = nameOrID.trimmingCharacters(in: " \t")
    guard !s.isEmpty else { throw LiftoffError.invalidArgument("empty image name or ID") }
    if let ref = try? ImageReference(parsing: s) {
      var candidates: [String] = []
      if let d = ref.digest { candidates.append(ref.canonicalName(d)) }
      if let t = ref.taggedName { candidates.append(t) }
      for c in candidates {
        let p = "\(namesDir)/\(ImageCatalog.escape(c))"
        if FileSystem.exists(p) {
          let n = try nameRecord(p)
          if FileSystem.exists("\(idsDir)/\(try Digest(n.id).encoded)") { return n.id }
        }
      }
      // A digest reference may name the manifest of an image stored under another name.
      if let d = ref.digest?.description,
        let r = imageRecords().first(where: { $0.manifestDigest == d || $0.indexDigest == d }) {
        return r.id
      }
    }
    var hex = s
    if hex.hasPrefix("sha256:") { hex = String(hex.dropFirst(7)) }
    if Digest.isHexPrefix(hex) {
      // Images whose last name was removed are gone for lookups (their record waits for gc).
      if names == nil { names = nameRecords() }
      let named = Set((names ?? []).compactMap { try? Digest($0.id).encoded })
      let matches = list(idsDir).filter { $0.hasPrefix(hex) && named.contains($0) }
      if matches.count == 1 { return "sha256:" + matches[0] }
      if matches.count > 1 { throw LiftoffError.invalidArgument("image ID prefix \"\(s)\" is ambiguous (\(matches.count) images)") }
    }
    throw LiftoffError.notFound("image \"\(s)\" not found")
  }

  /// The image as the pod side needs it. Throws `.notFound` for an unknown name or ID.
  public func resolve(_ nameOrID: String) throws -> ResolvedImage {
    var allNames: [NameRecord]?
    let id = try resolveID(nameOrID, names: &allNames)
    let rec = try record(id: id)
    let config = try self.config(rec)
    var dirs: [String] = []
    for c in rec.chainIDs {
      let dir = "\(layersDir)/\(try Digest(c).encoded)"
      guard FileSystem.isDirectory(dir) else {
        throw LiftoffError(.failedPrecondition, "image \(id): layer \(c) is missing from \(layersDir); pull the image again")
      }
      dirs.append(dir)
    }
    let names = (allNames ?? nameRecords()).filter { $0.id == id }.map(\.name).sorted()
    return ResolvedImage(id: id, names: names, manifestDigest: rec.indexDigest ?? rec.manifestDigest, config: config, layerDirs: dirs)
  }

  public func config(_ rec: ImageRecord) throws -> ImageConfig {
    let d = try Digest(rec.id)
    let bytes: [UInt8]
    do { bytes = try FileSystem.readBytes(Self.blobPath(root: root, d)) } catch {
      throw LiftoffError(.notFound, "blob \(d) not in the store")
    }
    do { return try ImageConfig(json: JSON.parse(bytes: bytes), in: "config") } catch {
      throw LiftoffError.internal("image \(rec.id): corrupt config: \(error)")
    }
  }

  public func manifest(_ rec: ImageRecord) throws -> ImageManifest {
    let data = try readBlob(try Digest(rec.manifestDigest))
    do { return try decodeJSON(ImageManifest.self, from: data) } catch {
      throw LiftoffError.internal("image \(rec.id): corrupt manifest: \(error)")
    }
  }

  public func summary(_ rec: ImageRecord, names: [NameRecord]? = nil) -> ImageSummary {
    let mine = (names ?? nameRecords()).filter { $0.id == rec.id }
    var tags: [String] = []
    var digests: Set<String> = []
    for n in mine {
      if n.name.contains("@") { digests.insert(n.name) } else {
        tags.append(n.name)
        if let r = try? ImageReference(parsing: n.name), let d = try? Digest(n.manifestDigest) {
          digests.insert(r.canonicalName(d))
        }
      }
    }
    return ImageSummary(id: rec.id, repoTags: tags.sorted(), repoDigests: digests.sorted(), manifestDigest: rec.indexDigest ?? rec.manifestDigest,
                        size: rec.size, createdAt: rec.createdAt, source: rec.source)
  }

  public func list() -> [ImageSummary] {
    let names = nameRecords()
    let named = Set(names.map(\.id))
    return imageRecords().filter { named.contains($0.id) }.map { summary($0, names: names) }.sorted { ($0.repoTags.first ?? $0.id) < ($1.repoTags.first ?? $1.id) }
  }
}
