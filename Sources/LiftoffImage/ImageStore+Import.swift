// Imports from local files: an OCI image layout directory (image-spec v1.1 image-layout.md), an
// oci-archive (a tar of a layout), a docker-archive (`docker save`: manifest.json with Config,
// RepoTags, Layers), and an appc ACI (spec v0.8.11: tar with `manifest` and `rootfs/`), converted to
// an OCI image on the way in. Archives are unpacked with the same safe unpacker as layers, and
// every file read from them must resolve inside the unpacked directory.
import CArchive
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffOS

#if canImport(Glibc)
  import Glibc
#endif

extension ImageStore {
  // MARK: common

  /// Registers an image whose manifest, config and layer blobs are in the content store: unpacks
  /// layers, writes the record, then the names.
  func register(manifestData: Data, indexDigest: Digest?, names: [String], source: String) async throws -> ResolvedImage {
    let manifestDigest = ContentStore.sha256(manifestData)
    let manifest: ImageManifest
    do { manifest = try decodeJSON(ImageManifest.self, from: manifestData) } catch {
      throw LiftoffError.invalidArgument("\(source): invalid manifest: \(error)")
    }
    try manifest.validate("\(source)@\(manifestDigest)")
    // Kept from gc until the names are written (ImageStore+Pins.swift). The blobs an importer put
    // into the content store before this point are not covered: a gc running just then may take
    // them, and the import then fails on the missing blob (nothing half-registered).
    let pin = try await pin(
      image: manifest.config.digest.description,
      blobs: [manifestDigest, manifest.config.digest] + (indexDigest.map { [$0] } ?? []) + manifest.layers.map(\.digest),
      chains: try ImageStore.chainIDs(manifest.layers.map(\.digest.description)))
    defer { pin.release() }
    try content.put(manifestData, expected: manifestDigest)
    let config: ImageConfig
    let configData = try content.read(manifest.config.digest, limit: .config, what: "\(source): config \(manifest.config.digest)")
    do { config = try ImageConfig(json: JSON.parse(bytes: Array(configData)), in: "config") } catch {
      throw LiftoffError.invalidArgument("\(source): invalid config \(manifest.config.digest): \(error)")
    }
    guard config.rootfs.diffIDs.count == manifest.layers.count else {
      throw LiftoffError.invalidArgument("\(source): config lists \(config.rootfs.diffIDs.count) diff_ids for \(manifest.layers.count) layers")
    }
    // Layer directories are keyed by the chain of the *blob* digests, which were verified on the
    // way in — not by the config's diff_ids, which Liftoff does not re-hash: an image claiming
    // another image's diff_ids must not be able to plant its content under that image's key.
    let chains = try ImageStore.chainIDs(manifest.layers.map(\.digest.description))
    let budget = unpackBudget()
    for (i, l) in manifest.layers.enumerated() { try await ensureLayer(blob: l.digest, chain: chains[i], budget: budget) }
    let rec = ImageRecord(
      id: manifest.config.digest.description, manifestDigest: manifestDigest.description, indexDigest: indexDigest?.description,
      chainIDs: chains.map(\.description), layerDigests: manifest.layers.map(\.digest.description),
      size: manifest.config.size + manifest.layers.reduce(0) { $0 + $1.size }, source: source,
      createdAt: ISO8601DateFormatter().string(from: Date()))
    try writeRecord(rec)
    let top = indexDigest ?? manifestDigest
    for n in names {
      let ref = try ImageReference(parsing: n)
      if let t = ref.taggedName { try writeName(NameRecord(name: t, id: rec.id, manifestDigest: top.description)) }
    }
    return try resolve(rec.id)
  }

  /// Copies a file into the content store, verifying it against `expected` when given.
  @discardableResult
  func ingestFile(_ path: String, expected: Digest?, expectedSize: Int64?) throws -> (Digest, Int64) {
    if let expected, content.has(expected) { return (expected, content.size(expected) ?? 0) }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: path) }
    defer { close(fd) }
    let w = try BlobWriter(store: content, expected: expected, expectedSize: expectedSize)
    var buf = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let n = read(fd, &buf, buf.count)
      if n < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("read", errno: errno, path: path)
      }
      if n == 0 { break }
      try buf.withUnsafeBytes { try w.write(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }
    let size = w.written
    return (try w.commit(), size)
  }

  /// `root/rel` after checking that it resolves (symlinks included) to a regular file inside root.
  static func insidePath(_ root: String, _ rel: String, what: String) throws -> String {
    guard !rel.hasPrefix("/"), !rel.split(separator: "/").contains("..") else {
      throw LiftoffError.invalidArgument("\(what): path \"\(rel)\" leaves the archive")
    }
    let p = "\(root)/\(rel)"
    guard let real = realpath(p, nil), let rootReal = realpath(root, nil) else {
      throw LiftoffError.invalidArgument("\(what): \"\(rel)\" is missing")
    }
    defer { free(real); free(rootReal) }
    let r = String(cString: real), rr = String(cString: rootReal)
    guard r.hasPrefix(rr + "/") else { throw LiftoffError.invalidArgument("\(what): \"\(rel)\" points outside the archive") }
    var st = stat()
    guard stat(r, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
      throw LiftoffError.invalidArgument("\(what): \"\(rel)\" is not a regular file")
    }
    return r
  }

  /// Unpacks an archive file into a fresh tmp directory with the layer unpacker's checks.
  func unpackArchive(_ file: String, what: String) async throws -> String {
    guard FileSystem.exists(file) else { throw LiftoffError.notFound("\(file) not found") }
    let dir = try makeUnpackDir()
    do {
      let account = unpackBudget().account()
      _ = try await runOnThread { try LayerUnpacker.unpack(archivePath: file, into: dir, layer: what, budget: account) }
    } catch {
      try? FileSystem.removeTree(dir)
      throw error
    }
    return dir
  }

  // MARK: OCI layout

  public func importOCILayout(_ dir: String, tag: String?, name: String? = nil) async throws -> ResolvedImage {
    let what = "oci-layout:\(dir)"
    let indexPath = try ImageStore.insidePath(dir, "index.json", what: what)
    try ContentStore.Limit.manifest.check(FileSystem.size(indexPath) ?? 0, "\(what): index.json")
    let index: ImageIndex
    do { index = try decodeJSON(ImageIndex.self, from: try Data(contentsOf: URL(fileURLWithPath: indexPath))) } catch {
      throw LiftoffError.invalidArgument("\(what): invalid index.json: \(error)")
    }
    let refName = "org.opencontainers.image.ref.name"
    let entry: Descriptor
    if let tag {
      guard let e = index.manifests.first(where: { $0.annotations?[refName] == tag }) else {
        throw LiftoffError.notFound("\(what): no image tagged \"\(tag)\"")
      }
      entry = e
    } else if index.manifests.count == 1 {
      entry = index.manifests[0]
    } else {
      let tags = index.manifests.compactMap { $0.annotations?[refName] }
      throw LiftoffError.invalidArgument("\(what): \(index.manifests.count) images; choose one with :TAG (\(tags.joined(separator: ", ")))")
    }
    func blob(_ d: Descriptor, limit: ContentStore.Limit? = nil) throws -> String {
      try limit?.check(d.size, "\(what): blob \(d.digest)")
      let p = try ImageStore.insidePath(dir, "blobs/\(d.digest.algorithm)/\(d.digest.encoded)", what: what)
      try ingestFile(p, expected: d.digest, expectedSize: d.size)
      return p
    }
    var manifestDesc = entry
    var indexDigest: Digest?
    if MediaType.indexes.contains(entry.mediaType) {
      _ = try blob(entry, limit: .manifest)
      let child: ImageIndex
      do { child = try decodeJSON(ImageIndex.self, from: try content.read(entry.digest, limit: .manifest, what: "\(what): index \(entry.digest)")) } catch let e as LiftoffError {
        throw e
      } catch {
        throw LiftoffError.invalidArgument("\(what): invalid index \(entry.digest): \(error)")
      }
      manifestDesc = try child.select(platform, what: what)
      indexDigest = entry.digest
    }
    _ = try blob(manifestDesc, limit: .manifest)
    let manifestData = try content.read(manifestDesc.digest, limit: .manifest, what: "\(what): manifest \(manifestDesc.digest)")
    let manifest: ImageManifest
    do { manifest = try decodeJSON(ImageManifest.self, from: manifestData) } catch {
      throw LiftoffError.invalidArgument("\(what): invalid manifest \(manifestDesc.digest): \(error)")
    }
    _ = try blob(manifest.config, limit: .config)
    for d in manifest.layers { _ = try blob(d) }
    let t = tag ?? entry.annotations?[refName] ?? "latest"
    var n = name ?? "localhost/\(ImageStore.sanitizedName((dir as NSString).lastPathComponent)):\(ImageStore.sanitizedTag(t))"
    if name == nil, let full = entry.annotations?[refName], full.contains("/"), (try? ImageReference(parsing: full)) != nil { n = full }
    return try await register(manifestData: manifestData, indexDigest: indexDigest, names: [n], source: what)
  }

  static func sanitizedName(_ s: String) -> String {
    var out = s.lowercased().map { c -> Character in (c.isLetter && c.isASCII) || c.isNumber ? c : "-" }
    while out.first == "-" { out.removeFirst() }
    while out.last == "-" { out.removeLast() }
    let r = String(out).replacingOccurrences(of: "--", with: "-")
    return r.isEmpty ? "image" : r
  }

  static func sanitizedTag(_ s: String) -> String {
    ImageReference.isValidTagString(s) ? s : "latest"
  }

  public func importOCIArchive(_ file: String) async throws -> ResolvedImage {
    let dir = try await unpackArchive(file, what: "oci-archive:\(file)")
    defer { try? FileSystem.removeTree(dir) }
    let base = ImageStore.sanitizedName(((file as NSString).lastPathComponent as NSString).deletingPathExtension)
    let indexPath = try ImageStore.insidePath(dir, "index.json", what: file)
    try ContentStore.Limit.manifest.check(FileSystem.size(indexPath) ?? 0, "oci-archive:\(file): index.json")
    let idx = try? decodeJSON(ImageIndex.self, from: Data(contentsOf: URL(fileURLWithPath: indexPath)))
    let tag = idx?.manifests.count == 1 ? idx?.manifests[0].annotations?["org.opencontainers.image.ref.name"] : nil
    var name: String? = "localhost/\(base):\(ImageStore.sanitizedTag(tag ?? "latest"))"
    if let tag, tag.contains("/"), (try? ImageReference(parsing: tag)) != nil { name = tag }
    return try await importOCILayout(dir, tag: nil, name: name)
  }

  // MARK: docker-archive

  public func importDockerArchive(_ file: String) async throws -> ResolvedImage {
    let what = "docker-archive:\(file)"
    let dir = try await unpackArchive(file, what: what)
    defer { try? FileSystem.removeTree(dir) }
    struct Entry: Decodable {
      var Config: String
      var RepoTags: [String]?
      var Layers: [String]
    }
    let entries: [Entry]
    do {
      let path = try ImageStore.insidePath(dir, "manifest.json", what: what)
      try ContentStore.Limit.manifest.check(FileSystem.size(path) ?? 0, "\(what): manifest.json")
      entries = try decodeJSON([Entry].self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    } catch let e as LiftoffError { throw e } catch {
      throw LiftoffError.invalidArgument("\(what): invalid manifest.json: \(error)")
    }
    guard let e = entries.first else { throw LiftoffError.invalidArgument("\(what): manifest.json lists no image") }
    let configPath = try ImageStore.insidePath(dir, e.Config, what: what)
    try ContentStore.Limit.config.check(FileSystem.size(configPath) ?? 0, "\(what): config \(e.Config)")
    let (configDigest, configSize) = try ingestFile(configPath, expected: nil, expectedSize: nil)
    var layers: [Descriptor] = []
    for l in e.Layers {
      let p = try ImageStore.insidePath(dir, l, what: what)
      let (d, size) = try ingestFile(p, expected: nil, expectedSize: nil)
      layers.append(Descriptor(mediaType: ImageStore.isGzip(p) ? MediaType.ociLayerGzip : MediaType.ociLayer, digest: d, size: size))
    }
    let m = ImageManifest(config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: configSize), layers: layers)
    let data = try encode(m)
    var names = (e.RepoTags ?? []).filter { (try? ImageReference(parsing: $0)) != nil }
    if names.isEmpty {
      names = ["localhost/\(ImageStore.sanitizedName(((file as NSString).lastPathComponent as NSString).deletingPathExtension)):latest"]
    }
    return try await register(manifestData: data, indexDigest: nil, names: names, source: what)
  }

  static func isGzip(_ path: String) -> Bool {
    guard let h = FileHandle(forReadingAtPath: path) else { return false }
    defer { try? h.close() }
    let b = h.readData(ofLength: 2)
    return b.count == 2 && b[b.startIndex] == 0x1f && b[b.startIndex + 1] == 0x8b
  }
}

extension ImageReference {
  public static func isValidTagString(_ t: String) -> Bool {
    (try? ImageReference(parsing: "localhost/x:\(t)"))?.tag == t
  }
}
