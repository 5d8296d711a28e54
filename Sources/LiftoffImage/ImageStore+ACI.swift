// appc ACI import and export (spec v0.8.11, spec/aci.md and spec/types): rkt's docker2aci, built in.
// Import: `rootfs/…` entries become one uncompressed OCI layer (diff ID = blob digest); the manifest's
// app becomes the image config:
//   exec → Entrypoint; user/group → User "user:group"; environment → Env; workingDirectory →
//   WorkingDir; ports → ExposedPorts "port/protocol"; annotations → Labels; labels os/arch → os/arch.
// Export: the merged rootfs under `rootfs/` plus a `manifest` from the config (the same mapping
// back; Entrypoint + Cmd → exec), gzip-compressed.
import CArchive
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffOS

#if canImport(Glibc)
  import Glibc
#endif

extension ImageStore {
  static let aciArch: [String: String] = ["amd64": "amd64", "386": "i386", "arm64": "aarch64", "ppc64le": "ppc64le", "s390x": "s390x"]

  static func aciArchitecture(_ c: ImageConfig) -> String {
    if c.architecture == "arm" { return c.variant == "v6" ? "armv6l" : "armv7l" }
    return aciArch[c.architecture] ?? c.architecture
  }

  static func ociArchitecture(_ aci: String?) -> (String, String?) {
    switch aci {
    case nil: return ("amd64", nil)
    case "aarch64": return ("arm64", nil)
    case "i386": return ("386", nil)
    case "armv6l": return ("arm", "v6")
    case "armv7l", "armv7b": return ("arm", "v7")
    case let a?: return (a, nil)
    }
  }

  /// The ACI manifest describing an image config.
  static func aciManifest(name: String, version: String, config c: ImageConfig) -> ACIManifest {
    let rc = c.config
    let userGroup = (rc?.user ?? "").split(separator: ":", maxSplits: 1).map(String.init)
    let user = userGroup.first.flatMap { $0.isEmpty ? nil : $0 } ?? "0"
    let group = userGroup.count > 1 ? userGroup[1] : (Int(user) != nil ? user : "0")
    let env = (rc?.env ?? []).compactMap { kv -> ACINameValue? in
      guard let eq = kv.firstIndex(of: "=") else { return nil }
      return ACINameValue(name: String(kv[..<eq]), value: String(kv[kv.index(after: eq)...]))
    }
    let ports = (rc?.exposedPorts ?? [:]).keys.sorted().compactMap { p -> ACIPort? in
      let parts = p.split(separator: "/")
      guard let n = Int(parts.first ?? "") else { return nil }
      let proto = parts.count > 1 ? String(parts[1]) : "tcp"
      return ACIPort(name: "\(n)-\(proto)", protocol: proto, port: n)
    }
    let exec = (rc?.entrypoint ?? []) + (rc?.cmd ?? [])
    let app = ACIApp(exec: exec.isEmpty ? nil : exec, user: user, group: group, workingDirectory: rc?.workingDir,
                     environment: env.isEmpty ? nil : env, ports: ports.isEmpty ? nil : ports)
    var labels = [ACINameValue(name: "version", value: version), ACINameValue(name: "os", value: c.os),
                  ACINameValue(name: "arch", value: aciArchitecture(c))]
    labels.sort { $0.name < $1.name }
    let annotations = (rc?.labels ?? [:]).sorted { $0.key < $1.key }.map { ACINameValue(name: $0.key, value: $0.value) }
      + (c.created.map { [ACINameValue(name: "created", value: $0)] } ?? [])
    return ACIManifest(name: name, labels: labels, app: app, annotations: annotations.isEmpty ? nil : annotations)
  }

  /// The image config an ACI manifest describes, for a rootfs layer with `diffID`.
  static func imageConfig(_ m: ACIManifest, diffID: Digest) -> ImageConfig {
    let (arch, variant) = ociArchitecture(m.label("arch"))
    var rc = ImageRuntimeConfig()
    if let app = m.app {
      rc.entrypoint = app.exec
      rc.user = "\(app.user):\(app.group)"
      rc.env = app.environment?.map { "\($0.name)=\($0.value)" }
      rc.workingDir = app.workingDirectory
      if let ports = app.ports, !ports.isEmpty {
        rc.exposedPorts = Dictionary(ports.map { ("\($0.port)/\($0.protocol)", EmptyObject()) }, uniquingKeysWith: { a, _ in a })
      }
    }
    var labels: [String: String] = [:]
    for a in m.annotations ?? [] where a.name != "created" { labels[a.name] = a.value }
    rc.labels = labels.isEmpty ? nil : labels
    return ImageConfig(created: m.annotations?.first { $0.name == "created" }?.value, architecture: arch, os: m.label("os") ?? "linux",
                       variant: variant, config: rc, rootfs: RootFS(diffIDs: [diffID.description]))
  }

  // MARK: import

  public func importACI(_ file: String) async throws -> ResolvedImage {
    let what = "aci:\(file)"
    guard FileSystem.exists(file) else { throw LiftoffError.notFound("\(file) not found") }
    let layerPath = "\(tmpDir)/aci-\(getpid())-\(UInt64.random(in: 0...UInt64.max)).tar"
    defer { unlink(layerPath) }
    let account = unpackBudget().account()
    let manifestData: Data = try await runOnThread { try ImageStore.convertACI(file, layerTo: layerPath, what: what, budget: account) }
    let manifest: ACIManifest
    do { manifest = try decodeJSON(ACIManifest.self, from: manifestData) } catch {
      throw LiftoffError.invalidArgument("\(what): invalid ACI manifest: \(error)")
    }
    guard manifest.acKind == ACIManifest.kind else {
      throw LiftoffError.invalidArgument("\(what): acKind is \"\(manifest.acKind)\", want ImageManifest")
    }
    if let deps = manifest.dependencies, !deps.isEmpty {
      throw LiftoffError.unimplemented("\(what): ACI dependencies are not supported (\(deps.map(\.imageName).joined(separator: ", ")))")
    }
    let (layerDigest, layerSize) = try ingestFile(layerPath, expected: nil, expectedSize: nil)
    let config = ImageStore.imageConfig(manifest, diffID: layerDigest)
    let configData = Data(config.json.serialized().utf8)
    let configDigest = try content.put(configData)
    let m = ImageManifest(
      config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configData.count)),
      layers: [Descriptor(mediaType: MediaType.ociLayer, digest: layerDigest, size: layerSize)],
      annotations: ["org.opencontainers.image.ref.name": manifest.name])
    var name = manifest.name
    if let first = name.split(separator: "/").first, !first.contains(".") && !first.contains(":") { name = "localhost/" + name }
    let version = ImageStore.sanitizedTag(manifest.label("version") ?? "latest")
    let full = (try? ImageReference(parsing: "\(name):\(version)")) != nil
      ? "\(name):\(version)" : "localhost/\(ImageStore.sanitizedName(manifest.name)):\(version)"
    return try await register(manifestData: try encode(m), indexDigest: nil, names: [full], source: what)
  }

  /// Reads an ACI: returns its `manifest` and writes the `rootfs/` entries, prefix stripped, as an
  /// uncompressed tar to `layerTo`, charging `budget` as an unpack would (the tar is as large as
  /// the rootfs). Entry paths are checked again when the layer is unpacked.
  static func convertACI(_ file: String, layerTo: String, what: String, budget: UnpackBudget.Account? = nil) throws -> Data {
    let reader = try ArchiveReader(what: what)
    try reader.open(path: file)
    let out = try ArchiveWriter(path: layerTo, gzip: false)
    var manifest: Data?
    while let e = try reader.next() {
      guard let cp = archive_entry_pathname(e) else { continue }
      var p = String(cString: cp)
      while p.hasPrefix("./") { p.removeFirst(2) }
      if p == "manifest" {
        let size = archive_entry_size(e)
        guard size >= 0 && size < 1 << 20 else { throw LiftoffError.invalidArgument("\(what): manifest larger than 1 MiB") }
        var d = Data(count: Int(size))
        let n = d.withUnsafeMutableBytes { archive_read_data(reader.handle, $0.baseAddress, Int(size)) }
        guard n == size else { throw LiftoffError.invalidArgument("\(what): short manifest") }
        manifest = d
        continue
      }
      guard p == "rootfs" || p == "rootfs/" || p.hasPrefix("rootfs/") else { continue }
      try budget?.charge(bytes: max(0, archive_entry_size(e)), entries: 1, layer: what, entry: p)
      let stripped = p == "rootfs" || p == "rootfs/" ? "./" : String(p.dropFirst("rootfs/".count))
      archive_entry_set_pathname(e, stripped.isEmpty ? "./" : stripped)
      if let hl = archive_entry_hardlink(e) {
        let h = String(cString: hl)
        guard h.hasPrefix("rootfs/") || h.hasPrefix("./rootfs/") else {
          throw LiftoffError.invalidArgument("\(what): entry \"\(p)\": hardlink outside rootfs/ (\"\(h)\")")
        }
        archive_entry_set_hardlink(e, String(h.hasPrefix("./") ? h.dropFirst(2 + 7) : h.dropFirst(7)))
      }
      try out.check(archive_write_header(out.handle, e), "header \(p)")
      if archive_entry_filetype(e) == S_IFREG && archive_entry_hardlink(e) == nil {
        var buf = [UInt8](repeating: 0, count: 1 << 20)
        while true {
          let n = buf.withUnsafeMutableBytes { archive_read_data(reader.handle, $0.baseAddress, $0.count) }
          if n < 0 { throw LiftoffError.invalidArgument("\(what): entry \"\(p)\": \(reader.errorString)") }
          if n == 0 { break }
          _ = buf.withUnsafeBytes { archive_write_data(out.handle, $0.baseAddress, n) }
        }
      }
    }
    try out.close()
    guard let manifest else { throw LiftoffError.invalidArgument("\(what): no manifest in the ACI") }
    return manifest
  }

  // MARK: export

  /// Writes the image as an ACI (gzip tar: `manifest` + `rootfs/`), converting its config.
  public func exportACI(_ nameOrID: String, to file: String) throws {
    let img = try resolve(nameOrID)
    let ref = img.names.compactMap { try? ImageReference(parsing: $0) }.first { $0.tag != nil }
    let name = ref.map { $0.registry == "localhost" ? $0.repository : $0.name } ?? "liftoff/\(img.id.dropFirst(7).prefix(12))"
    let manifest = ImageStore.aciManifest(name: name, version: ref?.tag ?? "latest", config: img.config)
    let tmp = "\(tmpDir)/export-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    try FileSystem.makeDirectories(tmp + "/rootfs", mode: 0o755)
    defer { try? FileSystem.removeTree(tmp) }
    try LayerMerger.merge(img.layerDirs, into: tmp + "/rootfs")
    let partial = file + ".partial"
    do {
      let w = try ArchiveWriter(path: partial, gzip: true)
      let e = JSONEncoder()
      e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      try w.add(path: "manifest", stat: nil, source: nil, data: try e.encode(manifest))
      try w.addTree(tmp + "/rootfs", prefix: "rootfs/")
      try w.close()
      guard rename(partial, file) == 0 else { throw SystemCallError("rename", errno: errno, path: file) }
    } catch {
      unlink(partial)
      throw error
    }
  }

  /// Writes the image as an oci-archive: a tar of an OCI image layout with one image tagged with
  /// its first name's tag (annotation org.opencontainers.image.ref.name).
  public func exportOCIArchive(_ nameOrID: String, to file: String) throws {
    let img = try resolve(nameOrID)
    let rec = try record(id: img.id)
    let manifest = try self.manifest(rec)
    let mdigest = try Digest(rec.manifestDigest)
    let mdata = try content.read(mdigest)
    let tag = img.names.compactMap { try? ImageReference(parsing: $0) }.first { $0.tag != nil }?.description ?? "latest"
    let index = ImageIndex(manifests: [Descriptor(
      mediaType: manifest.mediaType ?? MediaType.ociManifest, digest: mdigest, size: Int64(mdata.count),
      annotations: ["org.opencontainers.image.ref.name": tag])])
    let partial = file + ".partial"
    do {
      let w = try ArchiveWriter(path: partial, gzip: false)
      try w.add(path: "oci-layout", stat: nil, source: nil, data: Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
      try w.add(path: "index.json", stat: nil, source: nil, data: try encode(index))
      var st = stat()
      var seen: Set<Digest> = []
      for d in [mdigest, manifest.config.digest] + manifest.layers.map(\.digest) where seen.insert(d).inserted {
        let p = content.path(d)
        guard lstat(p, &st) == 0 else { throw LiftoffError(.failedPrecondition, "image \(img.id): blob \(d) missing from the store") }
        try w.add(path: "blobs/sha256/\(d.encoded)", stat: st, source: p)
      }
      try w.close()
      guard rename(partial, file) == 0 else { throw SystemCallError("rename", errno: errno, path: file) }
    } catch {
      unlink(partial)
      throw error
    }
  }
}
