// OCI image-spec v1.1 types that every layer shares (image config), Codable and Sendable.
// Spec: https://github.com/opencontainers/image-spec/blob/v1.1.0/config.md
// Docker's image config (application/vnd.docker.container.image.v1+json) has the same shape for
// these fields. Optional fields decode leniently: absent or null means "not set".

/// The execution parameters of an image (`config` in the OCI image config).
public struct ImageRuntimeConfig: Codable, Sendable, Equatable {
  public var user: String?
  public var exposedPorts: [String: EmptyObject]?
  public var env: [String]?
  public var entrypoint: [String]?
  public var cmd: [String]?
  public var volumes: [String: EmptyObject]?
  public var workingDir: String?
  public var labels: [String: String]?
  public var stopSignal: String?

  public init(
    user: String? = nil, exposedPorts: [String: EmptyObject]? = nil, env: [String]? = nil,
    entrypoint: [String]? = nil, cmd: [String]? = nil, volumes: [String: EmptyObject]? = nil,
    workingDir: String? = nil, labels: [String: String]? = nil, stopSignal: String? = nil
  ) {
    self.user = user
    self.exposedPorts = exposedPorts
    self.env = env
    self.entrypoint = entrypoint
    self.cmd = cmd
    self.volumes = volumes
    self.workingDir = workingDir
    self.labels = labels
    self.stopSignal = stopSignal
  }

  enum CodingKeys: String, CodingKey {
    case user = "User"
    case exposedPorts = "ExposedPorts"
    case env = "Env"
    case entrypoint = "Entrypoint"
    case cmd = "Cmd"
    case volumes = "Volumes"
    case workingDir = "WorkingDir"
    case labels = "Labels"
    case stopSignal = "StopSignal"
  }
}

/// `{}` in JSON, as used by the `ExposedPorts` and `Volumes` maps.
public struct EmptyObject: Codable, Sendable, Equatable, Hashable {
  public init() {}
}

/// The layer list of an image config.
public struct RootFS: Codable, Sendable, Equatable {
  public var type: String
  public var diffIDs: [String]

  public init(type: String = "layers", diffIDs: [String]) {
    self.type = type
    self.diffIDs = diffIDs
  }

  enum CodingKeys: String, CodingKey {
    case type
    case diffIDs = "diff_ids"
  }
}

/// The OCI image configuration (`application/vnd.oci.image.config.v1+json`).
public struct ImageConfig: Codable, Sendable, Equatable {
  public var created: String?
  public var author: String?
  public var architecture: String
  public var os: String
  public var variant: String?
  public var config: ImageRuntimeConfig?
  public var rootfs: RootFS

  public init(
    created: String? = nil, author: String? = nil, architecture: String, os: String,
    variant: String? = nil, config: ImageRuntimeConfig? = nil, rootfs: RootFS
  ) {
    self.created = created
    self.author = author
    self.architecture = architecture
    self.os = os
    self.variant = variant
    self.config = config
    self.rootfs = rootfs
  }
}
