// Container Device Interface spec files (cncf-tags/container-device-interface SPEC.md), cdiVersion
// 0.3.0 through 0.8.0: `{cdiVersion, kind: VENDOR/CLASS, annotations, devices: [{name, annotations,
// containerEdits}], containerEdits}`; containerEdits are `env`, `deviceNodes`, `mounts`, `hooks`,
// `intelRdt` and `additionalGids`. What each version added, and so the least version a spec must
// declare to use it (as the reference implementation's `MinimumRequiredVersion`):
//   0.4.0  mounts[].type          0.5.0  deviceNodes[].hostPath, device names starting with a digit
//   0.6.0  annotations, a class holding '.'      0.7.0  intelRdt, additionalGids
//   1.1.0  netDevices (newer than we read: such a spec is refused as too new)
// Fields are decoded leniently where the spec says they are optional; unknown fields are ignored, as
// the reference implementation does.
import LiftoffCore

public struct CDIDeviceNode: Sendable, Equatable {
  public var path: String
  public var hostPath: String?
  /// `c`, `u` (character), `b`, `p` (FIFO), or nil: the host node's.
  public var type: String?
  /// 0 when absent (the spec's omitempty integers): filled from the host node.
  public var major: Int64 = 0
  public var minor: Int64 = 0
  public var fileMode: UInt32?
  /// A subset of `rwm`, `none`, or nil (`rwm`).
  public var permissions: String?
  public var uid: UInt32?
  public var gid: UInt32?

  public init(path: String) { self.path = path }
}

public struct CDIMount: Sendable, Equatable {
  public var hostPath: String
  public var containerPath: String
  public var options: [String] = []
  public var type: String = ""

  public init(hostPath: String, containerPath: String, options: [String] = [], type: String = "") {
    self.hostPath = hostPath
    self.containerPath = containerPath
    self.options = options
    self.type = type
  }
}

public struct CDIHook: Sendable, Equatable {
  public static let names: Set<String> = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]
  public var hookName: String
  public var path: String
  public var args: [String] = []
  public var env: [String] = []
  public var timeout: Int?
}

public struct CDIContainerEdits: Sendable, Equatable {
  public var env: [String] = []
  public var deviceNodes: [CDIDeviceNode] = []
  public var hooks: [CDIHook] = []
  public var mounts: [CDIMount] = []
  /// Whether an `intelRdt` edit is present (Liftoff does not apply it: a request that needs it fails).
  public var intelRdt: Bool = false
  public var additionalGIDs: [UInt32] = []
  public var netDevices: Int = 0

  public init() {}

  public var isEmpty: Bool {
    env.isEmpty && deviceNodes.isEmpty && hooks.isEmpty && mounts.isEmpty && !intelRdt && additionalGIDs.isEmpty && netDevices == 0
  }

  mutating func append(_ o: CDIContainerEdits) {
    env += o.env
    deviceNodes += o.deviceNodes
    hooks += o.hooks
    mounts += o.mounts
    intelRdt = intelRdt || o.intelRdt
    additionalGIDs += o.additionalGIDs
    netDevices += o.netDevices
  }
}

public struct CDIDevice: Sendable, Equatable {
  public var name: String
  public var annotations: [String: String]
  public var edits: CDIContainerEdits
}

public struct CDISpec: Sendable, Equatable {
  /// The versions read, oldest first.
  public static let versions = ["0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0"]
  public static let newerVersions = ["1.0.0", "1.1.0"]

  public var version: String
  public var vendor: String
  public var `class`: String
  public var annotations: [String: String]
  public var edits: CDIContainerEdits
  public var devices: [CDIDevice]
  /// The file it came from, and its directory's priority (a later directory wins).
  public var path: String = ""
  public var priority: Int = 0

  public var kind: String { "\(vendor)/\(`class`)" }

  /// Parses and validates one spec document (a JSON value; YAML is converted to one first).
  public init(json j: JSON) throws(CDIError) {
    do { try self.init(decoding: j) } catch let e as CDIError { throw e } catch let e as LiftoffError { throw CDIError(e.message) } catch {
      throw CDIError("\(error)")
    }
    try validate()
  }

  private init(decoding j: JSON) throws {
    let ctx = "spec"
    guard j.objectValue != nil else { throw CDIError("the document is not an object") }
    let v = try j.string("cdiVersion", in: ctx)
    version = v.hasPrefix("v") ? String(v.dropFirst()) : v
    let kind = try j.string("kind", in: ctx)
    guard let slash = kind.firstIndex(of: "/") else { throw CDIError("kind \"\(kind)\" is not VENDOR/CLASS") }
    vendor = String(kind[..<slash])
    self.class = String(kind[kind.index(after: slash)...])
    annotations = try j.stringMap("annotations", in: ctx)
    edits = try Self.edits(j["containerEdits"], in: "containerEdits")
    var devices: [CDIDevice] = []
    for (i, d) in try j.objects("devices", in: ctx).enumerated() {
      let dctx = "devices[\(i)]"
      let name = try d.string("name", in: dctx)
      devices.append(
        CDIDevice(
          name: name, annotations: try d.stringMap("annotations", in: dctx),
          edits: try Self.edits(d["containerEdits"], in: "device \(name) containerEdits")))
    }
    self.devices = devices
  }

  static func edits(_ j: JSON?, in ctx: String) throws -> CDIContainerEdits {
    var e = CDIContainerEdits()
    guard let j, !j.isNull else { return e }
    guard j.objectValue != nil else { throw CDIError("\(ctx) is not an object") }
    e.env = try j.strings("env", in: ctx)
    for (i, d) in try j.objects("deviceNodes", in: ctx).enumerated() {
      let c = "\(ctx).deviceNodes[\(i)]"
      var n = CDIDeviceNode(path: try d.string("path", in: c))
      n.hostPath = try d.optString("hostPath", in: c).flatMap { $0.isEmpty ? nil : $0 }
      n.type = try d.optString("type", in: c).flatMap { $0.isEmpty ? nil : $0 }
      n.major = try d.optInt64("major", in: c) ?? 0
      n.minor = try d.optInt64("minor", in: c) ?? 0
      n.fileMode = try u32(d, "fileMode", in: c)
      n.permissions = try d.optString("permissions", in: c).flatMap { $0.isEmpty ? nil : $0 }
      n.uid = try u32(d, "uid", in: c)
      n.gid = try u32(d, "gid", in: c)
      e.deviceNodes.append(n)
    }
    for (i, m) in try j.objects("mounts", in: ctx).enumerated() {
      let c = "\(ctx).mounts[\(i)]"
      e.mounts.append(
        CDIMount(
          hostPath: try m.optString("hostPath", in: c) ?? "", containerPath: try m.optString("containerPath", in: c) ?? "",
          options: try m.strings("options", in: c), type: try m.optString("type", in: c) ?? ""))
    }
    for (i, h) in try j.objects("hooks", in: ctx).enumerated() {
      let c = "\(ctx).hooks[\(i)]"
      var hook = CDIHook(hookName: try h.optString("hookName", in: c) ?? "", path: try h.optString("path", in: c) ?? "")
      hook.args = try h.strings("args", in: c)
      hook.env = try h.strings("env", in: c)
      hook.timeout = try h.optInt64("timeout", in: c).map { Int($0) }
      e.hooks.append(hook)
    }
    if let r = j["intelRdt"], !r.isNull { e.intelRdt = true }
    if let g = j["additionalGids"], !g.isNull {
      guard let a = g.arrayValue else { throw CDIError("\(ctx).additionalGids is not an array") }
      for x in a {
        guard let n = x.int64Value, n >= 0, n <= Int64(UInt32.max) else { throw CDIError("\(ctx).additionalGids holds a value that is not a group ID") }
        e.additionalGIDs.append(UInt32(n))
      }
    }
    e.netDevices = try j.objects("netDevices", in: ctx).count
    return e
  }

  static func u32(_ j: JSON, _ key: String, in ctx: String) throws -> UInt32? {
    guard let v = try j.optInt64(key, in: ctx) else { return nil }
    guard v >= 0, v <= Int64(UInt32.max) else { throw CDIError("\(ctx).\(key) \(v) is out of range") }
    return UInt32(v)
  }

  // MARK: validation (as the reference implementation's Spec.validate)

  func validate() throws(CDIError) {
    guard let declared = Self.versions.firstIndex(of: version) else {
      if Self.newerVersions.contains(version) {
        throw CDIError("cdiVersion \(version) is newer than this runtime reads (\(Self.versions.first!) to \(Self.versions.last!))")
      }
      throw CDIError("cdiVersion \"\(version)\" is not a known CDI version (\(Self.versions.first!) to \(Self.versions.last!) are read)")
    }
    if let (needed, feature) = requiredVersion(), (Self.versions.firstIndex(of: needed) ?? Self.versions.count) > declared {
      throw CDIError("\(feature) needs cdiVersion \(needed) or later, the spec declares \(version)")
    }
    if let p = CDIName.kindPartProblem(vendor) { throw CDIError("kind \"\(kind)\": vendor \(p)") }
    if let p = CDIName.kindPartProblem(self.class) { throw CDIError("kind \"\(kind)\": class \(p)") }
    try Self.validate(edits, in: "containerEdits")
    guard !devices.isEmpty else { throw CDIError("the spec has no devices") }
    var seen: Set<String> = []
    for d in devices {
      if let p = CDIName.deviceNameProblem(d.name) { throw CDIError("device name \(p)") }
      guard seen.insert(d.name).inserted else { throw CDIError("device \(d.name) is defined twice") }
      guard !d.edits.isEmpty else { throw CDIError("device \(d.name) has no containerEdits") }
      try Self.validate(d.edits, in: "device \(d.name)")
    }
  }

  /// The newest feature this spec uses and the version that added it (nil: all are in 0.3.0).
  func requiredVersion() -> (String, String)? {
    let all = [edits] + devices.map(\.edits)
    if all.contains(where: { $0.netDevices > 0 }) { return ("1.1.0", "netDevices") }
    if all.contains(where: { $0.intelRdt }) { return ("0.7.0", "intelRdt") }
    if all.contains(where: { !$0.additionalGIDs.isEmpty }) { return ("0.7.0", "additionalGids") }
    if !annotations.isEmpty || devices.contains(where: { !$0.annotations.isEmpty }) { return ("0.6.0", "annotations") }
    if self.class.contains(".") { return ("0.6.0", "a class holding '.'") }
    if devices.contains(where: { $0.name.first?.isNumber == true }) { return ("0.5.0", "a device name starting with a digit") }
    if all.contains(where: { $0.deviceNodes.contains { $0.hostPath != nil } }) { return ("0.5.0", "deviceNodes[].hostPath") }
    if all.contains(where: { $0.mounts.contains { !$0.type.isEmpty } }) { return ("0.4.0", "mounts[].type") }
    return nil
  }

  static func validate(_ e: CDIContainerEdits, in ctx: String) throws(CDIError) {
    for v in e.env where (v.firstIndex(of: "=").map { $0 == v.startIndex } ?? true) || v.contains("\0") {
      throw CDIError("\(ctx): env \"\(v)\" is not NAME=VALUE")
    }
    for d in e.deviceNodes {
      guard d.path.hasPrefix("/") else { throw CDIError("\(ctx): device node path \"\(d.path)\" is not absolute") }
      if let h = d.hostPath, !h.hasPrefix("/") { throw CDIError("\(ctx): device node \(d.path): hostPath \"\(h)\" is not absolute") }
      if let t = d.type, !["b", "c", "u", "p"].contains(t) { throw CDIError("\(ctx): device node \(d.path): invalid type \"\(t)\"") }
      if let p = d.permissions, p != "none", !p.allSatisfy({ "rwm".contains($0) }) {
        throw CDIError("\(ctx): device node \(d.path): invalid permissions \"\(p)\"")
      }
      if let m = d.fileMode, m > 0o777 { throw CDIError("\(ctx): device node \(d.path): fileMode \(m) has bits beyond 0777") }
      guard d.major >= 0, d.major <= Int64(UInt32.max), d.minor >= 0, d.minor <= Int64(UInt32.max) else {
        throw CDIError("\(ctx): device node \(d.path): major/minor out of range")
      }
    }
    for h in e.hooks {
      guard CDIHook.names.contains(h.hookName) else { throw CDIError("\(ctx): invalid hook name \"\(h.hookName)\"") }
      guard !h.path.isEmpty else { throw CDIError("\(ctx): hook \(h.hookName) has an empty path") }
      for v in h.env where (v.firstIndex(of: "=").map { $0 == v.startIndex } ?? true) {
        throw CDIError("\(ctx): hook \(h.hookName): env \"\(v)\" is not NAME=VALUE")
      }
    }
    for m in e.mounts {
      guard !m.hostPath.isEmpty else { throw CDIError("\(ctx): a mount has an empty hostPath") }
      guard !m.containerPath.isEmpty else { throw CDIError("\(ctx): mount of \(m.hostPath) has an empty containerPath") }
    }
  }
}
