// Media types of OCI image-spec v1.1 (media-types.md) and Docker image manifest v2 schema 2
// (distribution/docs/spec/manifest-v2-2.md).

public enum MediaType {
  public static let ociIndex = "application/vnd.oci.image.index.v1+json"
  public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
  public static let ociConfig = "application/vnd.oci.image.config.v1+json"
  public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
  public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
  public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
  public static let ociLayerNondistributableGzip = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
  public static let ociLayoutHeader = "application/vnd.oci.layout.header.v1+json"

  public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
  public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
  public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
  public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
  public static let dockerForeignLayerGzip = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

  /// Media types of a single-image manifest.
  public static let manifests: Set<String> = [ociManifest, dockerManifest]
  /// Media types of a multi-platform index.
  public static let indexes: Set<String> = [ociIndex, dockerManifestList]
  /// Everything a registry client asks for in `Accept`.
  public static let acceptedManifests = [ociIndex, ociManifest, dockerManifestList, dockerManifest]

  /// The compression a layer media type implies.
  public static func layerCompression(_ mediaType: String) -> LayerCompression? {
    switch mediaType {
    case ociLayer, "application/vnd.oci.image.layer.nondistributable.v1.tar": return LayerCompression.none
    case ociLayerGzip, ociLayerNondistributableGzip, dockerLayerGzip, dockerForeignLayerGzip: return .gzip
    case ociLayerZstd, "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": return .zstd
    default: return nil
    }
  }
}

/// How a layer blob is compressed.
public enum LayerCompression: String, Sendable, Codable {
  case none, gzip, zstd
}
