// The security settings of an app beyond the basic ones in AppManifest (user, capabilities, seccomp,
// read-only rootfs, masked paths): what the CRI security context adds. Stored at the top level of the
// app's entry in pod.json:
//   "privileged": true                 all capabilities, the host's devices, no seccomp, no masked or
//                                      read-only paths, /sys writable, no device cgroup restriction
//   "sysctls": {"net.ipv4.ip_forward": "1"}   namespaced sysctls, written by stage1 before pivot_root
//   "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438,
//                "uid": 0, "gid": 0, "permissions": "rwm"}]   nodes made in the app's /dev
//   "pidNamespace": "container" | "host" | "pod" | "target"   the app's own PID namespace (default),
//                                      the host's, the pod's shared one, or another app's (`pidTarget`)
//   "pidTarget": "web"                 with "target": the app whose PID namespace this one joins
// Absent fields mean the defaults (unprivileged, none, none, container).

public struct AppDevice: Sendable, Equatable {
  /// Path inside the container.
  public var path: String
  /// `c` or `b`.
  public var type: String
  public var major: UInt32
  public var minor: UInt32
  public var fileMode: UInt32
  public var uid: UInt32
  public var gid: UInt32
  /// Device cgroup access: a combination of `r`, `w`, `m`.
  public var permissions: String

  public init(path: String, type: String, major: UInt32, minor: UInt32, fileMode: UInt32 = 0o666, uid: UInt32 = 0, gid: UInt32 = 0, permissions: String = "rwm") {
    self.path = path
    self.type = type
    self.major = major
    self.minor = minor
    self.fileMode = fileMode
    self.uid = uid
    self.gid = gid
    self.permissions = permissions
  }
}

public struct AppSecurity: Sendable, Equatable {
  /// The app's own (`container`), the host's, the pod's shared one (`pod`, in a pod made with
  /// `pidNamespace: pod`), or the one of another app of the pod (`target`, named by `pidTarget`;
  /// CRI's TARGET, as kubelet asks for a debug container).
  public enum PIDNamespace: String, Sendable, CaseIterable { case container, host, pod, target }

  public var privileged: Bool
  /// Sorted by key when written.
  public var sysctls: [String: String]
  public var devices: [AppDevice]
  public var pidNamespace: PIDNamespace
  /// The app whose PID namespace a `target` app joins.
  public var pidTarget: String?

  public init(
    privileged: Bool = false, sysctls: [String: String] = [:], devices: [AppDevice] = [], pidNamespace: PIDNamespace = .container,
    pidTarget: String? = nil
  ) {
    self.privileged = privileged
    self.sysctls = sysctls
    self.devices = devices
    self.pidNamespace = pidNamespace
    self.pidTarget = pidTarget
  }

  var jsonMembers: [(String, JSON?)] {
    [
      ("privileged", privileged ? .bool(true) : nil),
      ("sysctls", sysctls.isEmpty ? nil : .map(sysctls)),
      ("devices", devices.isEmpty ? nil : .array(devices.map { d in
        .obj([
          ("path", .string(d.path)), ("type", .string(d.type)), ("major", .int(d.major)), ("minor", .int(d.minor)),
          ("fileMode", .int(d.fileMode)), ("uid", .int(d.uid)), ("gid", .int(d.gid)), ("permissions", .string(d.permissions)),
        ])
      })),
      ("pidNamespace", pidNamespace == .container ? nil : .string(pidNamespace.rawValue)),
      ("pidTarget", .str(pidTarget)),
    ]
  }

  init(json j: JSON, in ctx: String) throws(LiftoffError) {
    privileged = try j.optBool("privileged", in: ctx) ?? false
    sysctls = try j.stringMap("sysctls", in: ctx)
    var devices: [AppDevice] = []
    for d in try j.objects("devices", in: ctx) {
      let dctx = "\(ctx) device"
      func u32(_ k: String, _ def: UInt32) throws(LiftoffError) -> UInt32 {
        guard let v = try d.optInt64(k, in: dctx) else { return def }
        guard v >= 0 && v <= Int64(UInt32.max) else { throw .invalidArgument("\(dctx): \(k) out of range") }
        return UInt32(v)
      }
      let type = try d.string("type", in: dctx)
      guard type == "c" || type == "b" else { throw .invalidArgument("\(dctx): type \(type) is not c or b") }
      devices.append(
        AppDevice(
          path: try d.string("path", in: dctx), type: type, major: try u32("major", 0), minor: try u32("minor", 0),
          fileMode: try u32("fileMode", 0o666), uid: try u32("uid", 0), gid: try u32("gid", 0),
          permissions: try d.optString("permissions", in: dctx) ?? "rwm"))
    }
    self.devices = devices
    let p = try j.optString("pidNamespace", in: ctx) ?? "container"
    guard let pid = PIDNamespace(rawValue: p) else { throw .invalidArgument("\(ctx): unknown pidNamespace \(p)") }
    pidNamespace = pid
    pidTarget = try j.optString("pidTarget", in: ctx)
    if (pid == .target) != (pidTarget != nil) { throw .invalidArgument("\(ctx): pidTarget goes with pidNamespace target, and only with it") }
  }

  /// Sysctls a pod may set: those the kernel keeps per namespace (IPC: kernel.shm*, kernel.msg*,
  /// kernel.sem, fs.mqueue.*; network: net.*, only with the pod's own network namespace). Keys may use
  /// `.` or `/`. Returns the refusal, or nil when allowed.
  public static func sysctlRefusal(_ key: String, podHasOwnNetwork: Bool) -> String? {
    let k = key.replacingSlashes
    let parts = k.split(separator: ".", omittingEmptySubsequences: false)
    guard !parts.isEmpty, parts.allSatisfy({ p in
      !p.isEmpty && p != ".." && p.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }
    }) else { return "sysctl \(key) is not a valid name" }
    if k.hasPrefix("kernel.shm") || k.hasPrefix("kernel.msg") || k == "kernel.sem" || k.hasPrefix("fs.mqueue.") { return nil }
    if k.hasPrefix("net.") {
      return podHasOwnNetwork ? nil : "sysctl \(key) is a network sysctl and the pod uses the host's network"
    }
    return "sysctl \(key) is not namespaced: it would change the whole node"
  }

  /// `net.ipv4.ip_forward` → `/proc/sys/net/ipv4/ip_forward`.
  public static func sysctlPath(_ key: String) -> String {
    "/proc/sys/" + key.replacingSlashes.split(separator: ".").joined(separator: "/")
  }
}

extension String {
  fileprivate var replacingSlashes: String { String(map { $0 == "/" ? "." : $0 }) }
}
