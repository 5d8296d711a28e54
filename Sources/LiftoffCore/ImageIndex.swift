// OCI image-spec v1.1 image index (image-index.md) and Docker manifest list
// (application/vnd.docker.distribution.manifest.list.v2+json): same JSON shape.

public struct ImageIndex: Codable, Sendable, Equatable {
  public var schemaVersion: Int
  public var mediaType: String?
  public var artifactType: String?
  public var manifests: [Descriptor]
  public var subject: Descriptor?
  public var annotations: [String: String]?

  public init(schemaVersion: Int = 2, mediaType: String? = MediaType.ociIndex, manifests: [Descriptor],
              annotations: [String: String]? = nil) {
    self.schemaVersion = schemaVersion
    self.mediaType = mediaType
    self.manifests = manifests
    self.annotations = annotations
  }

  enum CodingKeys: String, CodingKey {
    case schemaVersion, mediaType, artifactType, manifests, subject, annotations
  }

  /// The entry for `platform`: the first image manifest whose platform matches; an entry without
  /// a platform only when no entry has one. Throws `.notFound` listing what the index offers.
  public func select(_ platform: Platform, what: String) throws -> Descriptor {
    let images = manifests.filter { MediaType.manifests.contains($0.mediaType) || MediaType.indexes.contains($0.mediaType) }
    // Exact variant first, then any compatible one.
    if let d = images.first(where: { $0.platform.map { $0.matches(platform) && $0.variant == platform.variant } ?? false }) {
      return d
    }
    if let d = images.first(where: { $0.platform?.matches(platform) ?? false }) { return d }
    if images.allSatisfy({ $0.platform == nil }), let d = images.first { return d }
    let offered = images.compactMap { $0.platform?.description }.joined(separator: ", ")
    throw LiftoffError.notFound("index \(what) has no image for platform \(platform) (has: \(offered.isEmpty ? "none" : offered))")
  }
}

/// Docker's manifest list is an `ImageIndex` with `mediaType` set to `MediaType.dockerManifestList`.
public typealias DockerManifestList = ImageIndex

/// Enough of any manifest document to tell which kind it is.
public struct ManifestProbe: Codable, Sendable {
  public var schemaVersion: Int?
  public var mediaType: String?
  public var manifests: [Descriptor]?
  public var config: Descriptor?

  enum CodingKeys: String, CodingKey { case schemaVersion, mediaType, manifests, config }

  /// The media type the document declares, or the one its shape implies.
  public var effectiveMediaType: String? {
    if let mediaType { return mediaType }
    if manifests != nil { return MediaType.ociIndex }
    if config != nil { return MediaType.ociManifest }
    return nil
  }
}
