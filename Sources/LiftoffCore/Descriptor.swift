// OCI image-spec v1.1 content descriptor and platform (descriptor.md, image-index.md).
// Docker's manifest list and schema-2 manifest use the same shape.

/// The platform an image in an index runs on.
public struct Platform: Codable, Sendable, Hashable, CustomStringConvertible {
  public var architecture: String
  public var os: String
  public var osVersion: String?
  public var osFeatures: [String]?
  public var variant: String?

  public init(architecture: String, os: String, osVersion: String? = nil, osFeatures: [String]? = nil, variant: String? = nil) {
    self.architecture = architecture
    self.os = os
    self.osVersion = osVersion
    self.osFeatures = osFeatures
    self.variant = variant
  }

  enum CodingKeys: String, CodingKey {
    case architecture, os, variant
    case osVersion = "os.version"
    case osFeatures = "os.features"
  }

  public var description: String { "\(os)/\(architecture)" + (variant.map { "/\($0)" } ?? "") }

  /// Parses `os/arch[/variant]`.
  public init(parsing s: String) throws {
    let p = s.split(separator: "/").map(String.init)
    guard p.count == 2 || p.count == 3, p.allSatisfy({ !$0.isEmpty }) else {
      throw LiftoffError.invalidArgument("invalid platform \"\(s)\": want os/arch[/variant]")
    }
    self.init(architecture: p[1], os: p[0], variant: p.count == 3 ? p[2] : nil)
  }

  /// The platform of this machine, in OCI's (GOARCH) words.
  public static var host: Platform {
    #if arch(x86_64)
      return Platform(architecture: "amd64", os: "linux")
    #elseif arch(arm64)
      return Platform(architecture: "arm64", os: "linux", variant: "v8")
    #elseif arch(arm)
      return Platform(architecture: "arm", os: "linux", variant: "v7")
    #elseif arch(s390x)
      return Platform(architecture: "s390x", os: "linux")
    #elseif arch(powerpc64le)
      return Platform(architecture: "ppc64le", os: "linux")
    #else
      return Platform(architecture: "unknown", os: "linux")
    #endif
  }

  /// Whether an image for `other` runs here: same OS and architecture, and a compatible variant
  /// (no variant on either side matches; arm64's `v8` is its default).
  public func matches(_ other: Platform) -> Bool {
    guard os == other.os, architecture == other.architecture else { return false }
    let mine = normalizedVariant, theirs = other.normalizedVariant
    return mine == nil || theirs == nil || mine == theirs
  }

  var normalizedVariant: String? {
    if architecture == "arm64" && (variant == nil || variant == "v8") { return nil }
    return variant
  }
}

/// A reference to content: media type, digest, size, and for index entries a platform.
public struct Descriptor: Codable, Sendable, Hashable {
  public var mediaType: String
  public var digest: Digest
  public var size: Int64
  public var urls: [String]?
  public var annotations: [String: String]?
  public var platform: Platform?
  public var artifactType: String?

  public init(mediaType: String, digest: Digest, size: Int64, urls: [String]? = nil,
              annotations: [String: String]? = nil, platform: Platform? = nil, artifactType: String? = nil) {
    self.mediaType = mediaType
    self.digest = digest
    self.size = size
    self.urls = urls
    self.annotations = annotations
    self.platform = platform
    self.artifactType = artifactType
  }

  enum CodingKeys: String, CodingKey {
    case mediaType, digest, size, urls, annotations, platform, artifactType
  }
}
