// OCI image-spec v1.1 types that every layer shares (image config), read and written with
// LiftoffCore's JSON only (one reader, one writer; no Codable twin).
// Spec: https://github.com/opencontainers/image-spec/blob/v1.1.0/config.md
// Docker's image config (application/vnd.docker.container.image.v1+json) has the same shape for
// these fields. Optional fields read leniently: absent or null means "not set".

/// The execution parameters of an image (`config` in the OCI image config).
public struct ImageRuntimeConfig: Sendable, Equatable {
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
}

/// `{}` in JSON, as used by the `ExposedPorts` and `Volumes` maps.
public struct EmptyObject: Sendable, Equatable, Hashable {
  public init() {}
}

/// The layer list of an image config.
public struct RootFS: Sendable, Equatable {
  public var type: String
  public var diffIDs: [String]

  public init(type: String = "layers", diffIDs: [String]) {
    self.type = type
    self.diffIDs = diffIDs
  }
}

/// The OCI image configuration (`application/vnd.oci.image.config.v1+json`).
public struct ImageConfig: Sendable, Equatable {
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

// MARK: - reading with LiftoffCore's JSON

// `liftoff app add` reads an image config on every container creation; JSONDecoder's generic
// machinery (metadata instantiation, conformance lookups) cost about 1.9 M instructions of the
// ~6 M a run takes. Absent or null optional fields are nil, a field of the wrong type is an error
// naming it, unknown fields are ignored (as JSONDecoder read them before). The writers give the
// members in sorted order, as JSONEncoder's .sortedKeys did; the config of an image converted from
// an ACI is written by them, so its bytes (and the image ID, their digest) are this writer's.
extension ImageConfig {
  public init(json j: JSON, in ctx: String) throws(LiftoffError) {
    guard j.objectValue != nil else { throw .invalidArgument("\(ctx): not an object") }
    self.init(
      created: try j.optString("created", in: ctx), author: try j.optString("author", in: ctx),
      architecture: try j.string("architecture", in: ctx), os: try j.string("os", in: ctx),
      variant: try j.optString("variant", in: ctx),
      config: try j["config"].flatMap { c throws(LiftoffError) in c.isNull ? nil : try ImageRuntimeConfig(json: c, in: "\(ctx) config") },
      rootfs: try RootFS(json: j.require("rootfs", in: ctx), in: "\(ctx) rootfs"))
  }
}

extension ImageRuntimeConfig {
  public init(json j: JSON, in ctx: String) throws(LiftoffError) {
    guard j.objectValue != nil else { throw .invalidArgument("\(ctx): not an object") }
    self.init(
      user: try j.optString("User", in: ctx), exposedPorts: try Self.set("ExposedPorts", j, ctx),
      env: try j.optStrings("Env", in: ctx), entrypoint: try j.optStrings("Entrypoint", in: ctx),
      cmd: try j.optStrings("Cmd", in: ctx), volumes: try Self.set("Volumes", j, ctx),
      workingDir: try j.optString("WorkingDir", in: ctx), labels: try j.optStringMap("Labels", in: ctx),
      stopSignal: try j.optString("StopSignal", in: ctx))
  }

  /// `{"80/tcp": {}, …}`: the keys count; the values are ignored (EmptyObject's decoding reads none).
  private static func set(_ key: String, _ j: JSON, _ ctx: String) throws(LiftoffError) -> [String: EmptyObject]? {
    guard let v = j[key], !v.isNull else { return nil }
    guard let o = v.objectValue else { throw .invalidArgument("\(ctx): field \(key) is not an object") }
    var out: [String: EmptyObject] = [:]
    for (k, _) in o { out[k] = EmptyObject() }
    return out
  }
}

extension RootFS {
  public init(json j: JSON, in ctx: String) throws(LiftoffError) {
    guard j["diff_ids"].map({ !$0.isNull }) == true else { throw .invalidArgument("\(ctx): missing field diff_ids") }
    self.init(type: try j.string("type", in: ctx), diffIDs: try j.strings("diff_ids", in: ctx))
  }
}

// MARK: - writing

extension ImageConfig {
  public var json: JSON {
    .obj([
      ("architecture", .string(architecture)), ("author", .str(author)), ("config", config?.json), ("created", .str(created)),
      ("os", .string(os)), ("rootfs", rootfs.json), ("variant", .str(variant)),
    ])
  }
}

extension ImageRuntimeConfig {
  public var json: JSON {
    func set(_ m: [String: EmptyObject]?) -> JSON? { m.map { .object($0.keys.sorted().map { ($0, .object([])) }) } }
    return .obj([
      ("Cmd", .strs(cmd)), ("Entrypoint", .strs(entrypoint)), ("Env", .strs(env)), ("ExposedPorts", set(exposedPorts)),
      ("Labels", .map(labels)), ("StopSignal", .str(stopSignal)), ("User", .str(user)), ("Volumes", set(volumes)),
      ("WorkingDir", .str(workingDir)),
    ])
  }
}

extension RootFS {
  public var json: JSON { .obj([("diff_ids", .strs(diffIDs)), ("type", .string(type))]) }
}
