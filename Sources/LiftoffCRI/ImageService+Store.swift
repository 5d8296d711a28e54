// What the image RPCs share: the image store under `<dir>/images` and the CRI `Image` message built
// from a stored image. The image ID is the config digest; `repo_tags` / `repo_digests` are the names
// the store keeps; `size` is the compressed size of config + layers; `uid` / `username` come from
// the config's `User` (a numeric user gives `uid`, a name gives `username`, as kubelet expects).
import Foundation
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
  static func criImage(_ summary: ImageSummary, config: ImageConfig?) -> Runtime_V1_Image {
    var img = Runtime_V1_Image()
    img.id = summary.id
    img.repoTags = summary.repoTags
    img.repoDigests = summary.repoDigests
    img.size = UInt64(max(0, summary.size))
    img.spec.image = summary.id
    img.pinned = false
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

  /// The images a ListImages / StreamImages filter selects (all when the filter is empty).
  static func filtered(_ store: ImageStore, _ filter: Runtime_V1_ImageFilter?) throws -> [Runtime_V1_Image] {
    if let want = filter?.image.image, !want.isEmpty {
      guard let (s, c) = try find(store, want) else { return [] }
      return [criImage(s, config: c)]
    }
    return store.list().map { s in
      criImage(s, config: (try? store.record(id: s.id)).flatMap { try? store.config($0) })
    }
  }
}
