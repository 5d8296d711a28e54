/// An image as the pod side needs it: what LiftoffImage's store hands to LiftoffPod.
/// The contract between the two targets; neither needs the other's internals.
public struct ResolvedImage: Sendable, Equatable {
  /// The image ID: the digest of its config, `sha256:<64 hex>`.
  public var id: String
  /// The names this image was fetched as (`docker.io/library/busybox:latest`, …).
  public var names: [String]
  /// The digest of the manifest the image was resolved from (for `repo_digests` / `image_ref`).
  public var manifestDigest: String?
  /// The image configuration (entrypoint, cmd, env, user, working dir, stop signal, …).
  public var config: ImageConfig
  /// Absolute paths of the unpacked, read-only layer directories, lowest layer first —
  /// usable directly as overlayfs lower dirs (reverse the order for `lowerdir=`).
  public var layerDirs: [String]

  public init(id: String, names: [String], manifestDigest: String?, config: ImageConfig, layerDirs: [String]) {
    self.id = id
    self.names = names
    self.manifestDigest = manifestDigest
    self.config = config
    self.layerDirs = layerDirs
  }
}
