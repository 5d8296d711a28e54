// OCI image-spec v1.1 image manifest (manifest.md) and Docker image manifest v2 schema 2
// (application/vnd.docker.distribution.manifest.v2+json): the same JSON shape, told apart by
// `mediaType` (required in Docker's, optional in OCI's).

public struct ImageManifest: Codable, Sendable, Equatable {
  public var schemaVersion: Int
  public var mediaType: String?
  public var artifactType: String?
  public var config: Descriptor
  public var layers: [Descriptor]
  public var subject: Descriptor?
  public var annotations: [String: String]?

  public init(schemaVersion: Int = 2, mediaType: String? = MediaType.ociManifest, artifactType: String? = nil,
              config: Descriptor, layers: [Descriptor], subject: Descriptor? = nil, annotations: [String: String]? = nil) {
    self.schemaVersion = schemaVersion
    self.mediaType = mediaType
    self.artifactType = artifactType
    self.config = config
    self.layers = layers
    self.subject = subject
    self.annotations = annotations
  }

  enum CodingKeys: String, CodingKey {
    case schemaVersion, mediaType, artifactType, config, layers, subject, annotations
  }

  /// Checks the fields a puller relies on; throws naming the manifest and the problem.
  public func validate(_ what: String) throws {
    guard schemaVersion == 2 else {
      throw LiftoffError.invalidArgument("manifest \(what): unsupported schemaVersion \(schemaVersion)")
    }
    for l in layers where MediaType.layerCompression(l.mediaType) == nil {
      throw LiftoffError.invalidArgument("manifest \(what): layer \(l.digest) has unsupported media type \"\(l.mediaType)\"")
    }
    for d in [config] + layers where d.size < 0 {
      throw LiftoffError.invalidArgument("manifest \(what): descriptor \(d.digest) has negative size")
    }
  }
}

/// Docker's schema-2 manifest is an `ImageManifest` with `mediaType` set to `MediaType.dockerManifest`.
public typealias DockerManifest = ImageManifest
