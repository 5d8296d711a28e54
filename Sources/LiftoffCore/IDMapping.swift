// User namespace ID mappings, as OCI runtime-spec 1.2 `linux.uidMappings`/`gidMappings` and
// `mounts[].uidMappings` (`LinuxIDMapping`: containerID, hostID, size) and CRI runtime.v1 `IDMapping`
// (container_id, host_id, length) describe them. In pod.json:
//   "userNamespace": {"uidMappings": [{"containerID": 0, "hostID": 65536, "size": 65536}],
//                     "gidMappings": [...]}                      the pod's apps run in a user namespace
//   mounts[i].uidMappings / gidMappings (same shape)             an idmapped bind mount
// One entry is one line of /proc/PID/uid_map: "containerID hostID size". The kernel takes at most
// 340 lines; ranges may overlap neither on the container side nor on the host side.

public struct IDMapping: Sendable, Equatable {
  public var containerID: UInt32
  public var hostID: UInt32
  public var size: UInt32

  public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
    self.containerID = containerID
    self.hostID = hostID
    self.size = size
  }

  /// The kernel's limit on lines of a uid_map/gid_map.
  public static let maxEntries = 340

  /// `CONTAINER:HOST:LENGTH` (the CLI's form); `separator` `-` for `--volume …:uidmap=C-H-L`.
  public static func parse(_ s: String, separator: Character = ":", flag: String) throws(LiftoffError) -> IDMapping {
    let f = s.split(separator: separator, omittingEmptySubsequences: false)
    guard f.count == 3, let c = UInt32(f[0]), let h = UInt32(f[1]), let n = UInt32(f[2]) else {
      throw .invalidArgument("\(flag) \(s): expected CONTAINER\(separator)HOST\(separator)LENGTH with numbers below 2^32")
    }
    return IDMapping(containerID: c, hostID: h, size: n)
  }

  /// Checks a list of mappings (length > 0, no overflow, no overlap, at most 340 entries); errors name `field`.
  public static func validate(_ list: [IDMapping], field: String) throws(LiftoffError) {
    guard list.count <= maxEntries else { throw .invalidArgument("\(field): \(list.count) mappings, at most \(maxEntries)") }
    for (i, m) in list.enumerated() {
      guard m.size > 0 else { throw .invalidArgument("\(field)[\(i)]: length must be positive") }
      guard UInt64(m.containerID) + UInt64(m.size) <= 1 << 32 else {
        throw .invalidArgument("\(field)[\(i)]: container id \(m.containerID) + length \(m.size) overflows 32 bits")
      }
      guard UInt64(m.hostID) + UInt64(m.size) <= 1 << 32 else {
        throw .invalidArgument("\(field)[\(i)]: host id \(m.hostID) + length \(m.size) overflows 32 bits")
      }
      for (j, o) in list.enumerated() where j < i {
        if overlaps(m.containerID, m.size, o.containerID, o.size) {
          throw .invalidArgument("\(field)[\(i)]: container ids overlap those of \(field)[\(j)]")
        }
        if overlaps(m.hostID, m.size, o.hostID, o.size) {
          throw .invalidArgument("\(field)[\(i)]: host ids overlap those of \(field)[\(j)]")
        }
      }
    }
  }

  static func overlaps(_ a: UInt32, _ n: UInt32, _ b: UInt32, _ m: UInt32) -> Bool {
    UInt64(a) < UInt64(b) + UInt64(m) && UInt64(b) < UInt64(a) + UInt64(n)
  }

  /// The host ID a container ID maps to, nil when unmapped.
  public static func host(_ id: UInt32, in list: [IDMapping]) -> UInt32? {
    for m in list where id >= m.containerID && UInt64(id) < UInt64(m.containerID) + UInt64(m.size) {
      return m.hostID + (id - m.containerID)
    }
    return nil
  }

  /// The text of a uid_map/gid_map file.
  public static func procText(_ list: [IDMapping]) -> String {
    list.map { "\($0.containerID) \($0.hostID) \($0.size)\n" }.joined()
  }

  public var json: JSON {
    .obj([("containerID", .int(containerID)), ("hostID", .int(hostID)), ("size", .int(size))])
  }

  public static func list(json j: JSON, key: String, in ctx: String) throws(LiftoffError) -> [IDMapping] {
    var out: [IDMapping] = []
    for (i, e) in try j.objects(key, in: ctx).enumerated() {
      let ec = "\(ctx) \(key)[\(i)]"
      func u32(_ k: String) throws(LiftoffError) -> UInt32 {
        guard let v = try e.optInt64(k, in: ec), v >= 0, v <= Int64(UInt32.max) else {
          throw .invalidArgument("\(ec): field \(k) missing or out of range")
        }
        return UInt32(v)
      }
      out.append(IDMapping(containerID: try u32("containerID"), hostID: try u32("hostID"), size: try u32("size")))
    }
    try validate(out, field: "\(ctx) \(key)")
    return out
  }
}

/// The user namespace of a pod: every app runs in it, with exactly these mappings.
public struct UserNamespaceMappings: Sendable, Equatable {
  public var uids: [IDMapping]
  public var gids: [IDMapping]

  public init(uids: [IDMapping], gids: [IDMapping]) {
    self.uids = uids
    self.gids = gids
  }

  public func hostUID(_ id: UInt32) -> UInt32? { IDMapping.host(id, in: uids) }
  public func hostGID(_ id: UInt32) -> UInt32? { IDMapping.host(id, in: gids) }

  public var json: JSON {
    .obj([("uidMappings", .array(uids.map(\.json))), ("gidMappings", .array(gids.map(\.json)))])
  }

  public init(json j: JSON, in ctx: String) throws(LiftoffError) {
    uids = try IDMapping.list(json: j, key: "uidMappings", in: ctx)
    gids = try IDMapping.list(json: j, key: "gidMappings", in: ctx)
    guard !uids.isEmpty, !gids.isEmpty else { throw .invalidArgument("\(ctx): uidMappings and gidMappings must not be empty") }
  }
}

extension AppMount {
  /// Idmapped mounts are bind mounts with both a uid and a gid mapping; errors name `ctx`.
  public func validateIDMapping(in ctx: String) throws(LiftoffError) {
    guard isIDMapped else { return }
    guard type == "bind" else { throw .invalidArgument("\(ctx): uid/gid mappings need a bind mount, not \(type)") }
    guard !uidMappings.isEmpty, !gidMappings.isEmpty else {
      throw .invalidArgument("\(ctx): an idmapped mount needs both uid and gid mappings")
    }
    try IDMapping.validate(uidMappings, field: "\(ctx) uidMappings")
    try IDMapping.validate(gidMappings, field: "\(ctx) gidMappings")
  }
}
