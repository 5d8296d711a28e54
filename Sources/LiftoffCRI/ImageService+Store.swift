// What the image RPCs share: the image store under `<dir>/images` and the CRI `Image` message built
// from a stored image. The image ID is the config digest; `repo_tags` / `repo_digests` are the names
// the store keeps; `size` is the compressed size of config + layers; `uid` / `username` come from
// the config's `User` (a numeric user gives `uid`, a name gives `username`, as kubelet expects);
// `pinned` is true for an image one of the `pinned-images` settings names (resolved afresh on every
// call, so a pinned tag follows the image it points at now; a name not in the store pins nothing).
// Runtime handlers (KEP-4216, RuntimeClassInImageCriApi): every handler shares this one store, so an
// ImageSpec's `runtime_handler` selects nothing; it must name a handler RunPodSandbox accepts
// (INVALID_ARGUMENT naming it otherwise), and an image asked about for a handler is answered with
// `spec` = {image: its ID, runtime_handler: that handler}, so the caller can tell which it is for.
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffImage

extension CRIRuntime {
  /// The image store. Registry host configuration is read from `registry-config-dir`; unpacking a
  /// pulled image is capped by `max-unpacked-bytes` and `max-unpacked-entries`; pulls are held to the
  /// trust policy in `trust-dir`.
  func imageStore() throws -> ImageStore {
    try ImageStore(
      root: imagesDir, hosts: RegistryHosts(configDir: config.registryConfigDir), unpackLimits: config.unpackLimits,
      trustDir: config.trustDir)
  }
}

extension ImageService {
  static func criImage(_ summary: ImageSummary, config: ImageConfig?, pinned: Set<String>, runtimeHandler: String = "") -> Runtime_V1_Image {
    var img = Runtime_V1_Image()
    img.id = summary.id
    img.repoTags = summary.repoTags
    img.repoDigests = summary.repoDigests
    img.size = UInt64(max(0, summary.size))
    img.spec.image = summary.id
    img.spec.runtimeHandler = runtimeHandler
    img.pinned = pinned.contains(summary.id)
    let user = config?.config?.user ?? ""
    let name = String(user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    if let uid = Int64(name) {
      img.uid.value = uid
    } else if !name.isEmpty {
      img.username = name
    } else {
      img.uid.value = 0
    }
    return img
  }

  /// The stored image a CRI ImageSpec names (by ID, tag or digest), or nil.
  static func find(_ store: ImageStore, _ spec: String) throws -> (ImageSummary, ImageConfig)? {
    guard !spec.isEmpty else { throw LiftoffError.invalidArgument("image spec is empty") }
    let id: String
    do { id = try store.resolveID(spec) } catch let e as LiftoffError where e.code == .notFound { return nil }
    let rec = try store.record(id: id)
    return (store.summary(rec), try store.config(rec))
  }

  /// The IDs of the stored images that `refs` (the pinned-images setting) name. A reference is
  /// looked up in its normalised form (`registry/repository:tag`), never as an ID prefix: a pinned
  /// `cafe` pins the image named docker.io/library/cafe:latest, not one whose ID starts with cafe.
  static func pinnedIDs(_ store: ImageStore, _ refs: [String]) -> Set<String> {
    Set(refs.compactMap { ref in
      if ref.hasPrefix("sha256:") { return try? store.resolveID(ref) }
      guard let normalised = try? ImageReference(parsing: ref) else { return nil }
      return try? store.resolveID(normalised.description)
    })
  }

  /// The images a ListImages / StreamImages filter selects (all when the filter is empty).
  static func filtered(_ store: ImageStore, _ filter: Runtime_V1_ImageFilter?, pinnedRefs: [String]) throws -> [Runtime_V1_Image] {
    let pinned = pinnedIDs(store, pinnedRefs)
    let handler = filter?.image.runtimeHandler ?? ""
    if let want = filter?.image.image, !want.isEmpty {
      guard let (s, c) = try find(store, want) else { return [] }
      return [criImage(s, config: c, pinned: pinned, runtimeHandler: handler)]
    }
    return store.list().map { s in
      criImage(s, config: (try? store.record(id: s.id)).flatMap { try? store.config($0) }, pinned: pinned, runtimeHandler: handler)
    }
  }

  /// An ImageSpec's runtime handler must be one RunPodSandbox accepts; "" is the default one.
  static func checkRuntimeHandler(_ spec: Runtime_V1_ImageSpec, field: String, config: CRIConfig) throws {
    _ = try config.runtimeHandler(spec.runtimeHandler, field: "\(field).runtime_handler")
  }
}
