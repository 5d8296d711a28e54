// The Liftoff pod manifest, version 1: `pods/<state>/<id>/pod.json`.
// Written once by stage0 (`liftoff prepare`, `app sandbox`, `app add`), read by stage1 and by every
// command. Everything stage1 needs is resolved here already (argv, uid/gid/groups, capability names,
// layer dirs, mounts), so stage1 does no lookups in the image: it is a Foundation-free reader of this
// file (JSON via LiftoffCore.JSON). Unknown fields are ignored; absent optional fields mean "not set".

public struct PodManifest: Sendable, Equatable {
  public static let currentVersion = 1

  public enum Flavor: String, Sendable, CaseIterable { case `default`, fly }

  public var version: Int
  /// 64 lowercase hex characters.
  public var id: String
  /// RFC 3339 with nanoseconds, UTC.
  public var createdAt: String
  public var flavor: Flavor
  public var hostname: String
  public var network: PodNetwork
  /// Mutable pods (`app sandbox`) keep running with no app; immutable pods (`run`) end with their apps.
  public var mutable: Bool
  /// Seconds between SIGTERM and SIGKILL when the pod is stopped.
  public var stopTimeoutSeconds: Int
  /// The pod's apps share the host's IPC namespace (CRI `ipc: NODE`) instead of the pod's own.
  /// JSON `"ipcNamespace": "host"`; absent: the pod's own.
  public var hostIPC = false
  /// The pod's apps share one PID namespace (CRI `pid: POD`), whose PID 1 is a small reaper forked
  /// by stage1. JSON `"pidNamespace": "pod"`; absent: one PID namespace per app.
  public var sharedPID = false
  /// Limits of the pod's own cgroup (the parent of its apps'), set by `app update POD` without
  /// `--app` (CRI UpdatePodSandboxResources). JSON `"resources"` at the pod level, as the apps'.
  public var resources = AppResources()
  /// The cgroup the pod's own group goes under, relative to each hierarchy's root (CRI
  /// `cgroup_parent`, e.g. `kubepods/burstable/pod<uid>`); nil: `liftoff`. JSON `"cgroupParent"`.
  public var cgroupParent: String?
  /// The systemd cgroup driver: the slice unit the pod's scope `liftoff-<id>.scope` goes in (its
  /// name, e.g. `kubepods-burstable-pod<uid>.slice`; `cgroupParent` is then its cgroup path). stage1
  /// creates the scope over D-Bus with Delegate=yes. nil: the cgroupfs driver. JSON `"systemdSlice"`.
  public var systemdSlice: String?
  /// The user namespace every app of the pod runs in (IDMapping.swift); nil: the host's.
  /// JSON `"userNamespace"`.
  public var userNamespace: UserNamespaceMappings?
  /// systemd's notification socket (`$NOTIFY_SOCKET` of `liftoff run` in a `Type=notify` unit): each
  /// app gets a socket of its own from stage1 (`NOTIFY_SOCKET=/run/notify/notify.sock` inside), and
  /// stage1 — the unit's main process — relays what they send: READY=1 once every app has said it,
  /// STATUS=, STOPPING=1, RELOADING=1, WATCHDOG=…, EXTEND_TIMEOUT_USEC= as they come, nothing else
  /// (no MAINPID: an app's pid means nothing to systemd). JSON `"notifySocket"`; nil: none.
  public var notifySocket: String?
  public var annotations: [String: String]
  public var labels: [String: String]
  public var apps: [AppManifest]

  public init(
    id: String, createdAt: String, flavor: Flavor = .default, hostname: String, network: PodNetwork,
    mutable: Bool = false, stopTimeoutSeconds: Int = 10, annotations: [String: String] = [:],
    labels: [String: String] = [:], apps: [AppManifest]
  ) {
    self.version = Self.currentVersion
    self.id = id
    self.createdAt = createdAt
    self.flavor = flavor
    self.hostname = hostname
    self.network = network
    self.mutable = mutable
    self.stopTimeoutSeconds = stopTimeoutSeconds
    self.annotations = annotations
    self.labels = labels
    self.apps = apps
  }

  public func app(named name: String) -> AppManifest? { apps.first { $0.name == name } }

  /// The pod as it stands: pod.json without the apps whose directory (`<pod>/apps/<name>`, which
  /// `exists` is asked about) is gone. Every app's directory is made before pod.json lists it, and
  /// `app rm` commits by renaming it into the pod's `removed/` without rewriting pod.json (its
  /// crash-safe rewrite was ~1 ms of each RemoveContainer; AppManager.unlist): every reader drops the
  /// entry here, the next writer of pod.json leaves it out.
  public func withoutRemovedApps(podDir: String, exists: (String) -> Bool) -> PodManifest {
    let standing = apps.filter { exists("\(podDir)/apps/\($0.name)") }
    guard standing.count != apps.count else { return self }
    var m = self
    m.apps = standing
    return m
  }
}

/// How the pod is networked. `netnsPath` is a bind-mounted namespace under /run/netns created by
/// stage0 (mode `none` and `netns`); stage1 joins it with setns. Host-network pods have none.
public struct PodNetwork: Sendable, Equatable {
  public enum Mode: String, Sendable, CaseIterable { case host, none, netns }
  public var mode: Mode
  public var netnsPath: String?
  public init(mode: Mode, netnsPath: String? = nil) {
    self.mode = mode
    self.netnsPath = netnsPath
  }
}

/// One app (stage2) of a pod, fully resolved.
public struct AppManifest: Sendable, Equatable {
  public var name: String
  public var image: AppImage
  /// argv; argv[0] is looked up in PATH of `env` inside the rootfs when it has no '/'.
  public var exec: [String]
  /// `KEY=value`, with PATH always set.
  public var env: [String]
  public var workingDir: String
  public var user: AppUser
  public var readOnlyRootfs: Bool
  /// Capability names (`CAP_CHOWN`, …): the bounding, permitted and effective sets.
  public var capabilities: [String]
  /// Ambient capabilities (also in `capabilities`, and inheritable): kept across execve by a
  /// non-root user's process. JSON `ambientCapabilities`, absent when empty.
  public var ambientCapabilities: [String] = []
  public var noNewPrivileges: Bool
  /// `runtime/default` or `localhost/<absolute path of an OCI profile>` (both compiled by stage0 to
  /// `apps/<name>/seccomp.bpf`), or `unconfined`.
  public var seccomp: String
  public var mounts: [AppMount]
  public var rlimits: [AppRlimit]
  public var resources: AppResources
  public var oomScoreAdj: Int?
  /// Paths inside the rootfs made inaccessible (an empty read-only tmpfs or /dev/null).
  public var maskedPaths: [String]
  /// Paths inside the rootfs bind-mounted read-only onto themselves.
  public var readonlyPaths: [String]
  /// stdin/stdout/stderr of stage1 are handed to the app (`liftoff run --interactive`).
  public var interactive: Bool
  /// The signal to stop the app with (image `StopSignal`), as a number; SIGTERM when nil.
  public var stopSignal: Int?
  /// Where stage1 writes the app's stdout and stderr in the CRI log format (mutable pods); nil:
  /// the app shares stage1's stdout and stderr.
  public var logPath: String?
  /// When stage0 added the app (RFC 3339 with nanoseconds, UTC); empty in manifests made before.
  public var createdAt: String
  /// The app's own annotations and labels (the CRI service keeps a container's metadata here).
  public var annotations: [String: String]
  public var labels: [String: String]
  /// Security settings added with the CRI security context (AppSecurity.swift); JSON keys
  /// `privileged`, `sysctls`, `devices`, `pidNamespace`, all optional.
  public var security: AppSecurity = AppSecurity()
  /// A pseudo-terminal held by stage1 is the app's stdin, stdout and stderr (CRI `tty`); its output is
  /// logged as stdout.
  public var tty: Bool
  /// stage1 keeps the app's stdin open for attaching clients (CRI `stdin`): a pipe, or the pty.
  public var stdin: Bool
  /// The app's stdin is closed when the first attached client that writes it closes its stdin.
  public var stdinOnce: Bool
  /// Socket activation (`liftoff run` under systemd): the app gets stage1's descriptors 3 up to
  /// 3+listenFDs-1 — the ones systemd passed — with LISTEN_FDS, LISTEN_PID (its own pid) and
  /// LISTEN_FDNAMES set; 0 for every other app.
  public var listenFDs: Int = 0
  public var listenFDNames: String?
  /// OCI lifecycle hooks stage1 runs for the app (AppHook.swift), in order; JSON `"hooks"`, absent
  /// when empty.
  public var hooks: [AppHook] = []

  public init(
    name: String, image: AppImage, exec: [String], env: [String], workingDir: String = "/",
    user: AppUser = AppUser(), readOnlyRootfs: Bool = false, capabilities: [String],
    noNewPrivileges: Bool = true, seccomp: String = "runtime/default", mounts: [AppMount] = [],
    rlimits: [AppRlimit] = [], resources: AppResources = AppResources(), oomScoreAdj: Int? = nil,
    maskedPaths: [String] = [], readonlyPaths: [String] = [], interactive: Bool = false, stopSignal: Int? = nil,
    logPath: String? = nil, createdAt: String = "", annotations: [String: String] = [:], labels: [String: String] = [:],
    tty: Bool = false, stdin: Bool = false, stdinOnce: Bool = false
  ) {
    self.name = name
    self.image = image
    self.exec = exec
    self.env = env
    self.workingDir = workingDir
    self.user = user
    self.readOnlyRootfs = readOnlyRootfs
    self.capabilities = capabilities
    self.noNewPrivileges = noNewPrivileges
    self.seccomp = seccomp
    self.mounts = mounts
    self.rlimits = rlimits
    self.resources = resources
    self.oomScoreAdj = oomScoreAdj
    self.maskedPaths = maskedPaths
    self.readonlyPaths = readonlyPaths
    self.interactive = interactive
    self.stopSignal = stopSignal
    self.logPath = logPath
    self.createdAt = createdAt
    self.annotations = annotations
    self.labels = labels
    self.tty = tty
    self.stdin = stdin
    self.stdinOnce = stdinOnce
  }
}

extension AppManifest {
  /// The profile path of a `localhost/<path>` seccomp setting (nil for the others).
  public static func localhostSeccompPath(_ seccomp: String) -> String? {
    seccomp.hasPrefix("localhost/") ? String(seccomp.dropFirst("localhost/".count)) : nil
  }
}

public struct AppImage: Sendable, Equatable {
  /// The name the image was asked for (`docker.io/library/busybox:latest`, or a rootfs path).
  public var name: String
  /// `sha256:<hex>` of the image config, or empty for a plain rootfs directory.
  public var id: String
  /// Overlay lower dirs, lowest first.
  public var layerDirs: [String]
  public init(name: String, id: String, layerDirs: [String]) {
    self.name = name
    self.id = id
    self.layerDirs = layerDirs
  }
}

extension AppImage {
  var json: JSON { .obj([("name", .string(name)), ("id", .string(id)), ("layerDirs", .strs(layerDirs))]) }

  init(json im: JSON, in ctx: String) throws(LiftoffError) {
    self.init(
      name: try im.optString("name", in: ctx) ?? "", id: try im.optString("id", in: ctx) ?? "",
      layerDirs: try im.strings("layerDirs", in: ctx))
  }
}

public struct AppUser: Sendable, Equatable {
  public var uid: UInt32
  public var gid: UInt32
  public var additionalGids: [UInt32]
  public init(uid: UInt32 = 0, gid: UInt32 = 0, additionalGids: [UInt32] = []) {
    self.uid = uid
    self.gid = gid
    self.additionalGids = additionalGids
  }
}

/// A volume or mount: `bind` (source on the host), `tmpfs`, or `image` (an image volume, CRI
/// `Mount.image`, KEP-4639: the image's layers, read-only, noexec, nosuid, nodev; `image` names them,
/// `subPath` the directory of the image that is mounted).
public struct AppMount: Sendable, Equatable {
  public enum Propagation: String, Sendable, CaseIterable { case `private`, rprivate, slave, rslave, shared, rshared }
  public var destination: String
  public var type: String
  public var source: String
  public var readOnly: Bool
  public var propagation: Propagation
  /// Extra mount data for tmpfs (`size=64m,mode=1777`).
  public var data: String?
  /// Read-only all the way down (`mount_setattr(AT_RECURSIVE, MOUNT_ATTR_RDONLY)`): the submounts
  /// of a read-only bind are read-only too. Needs `readOnly` and a private propagation.
  public var recursiveReadOnly: Bool
  /// An idmapped bind mount: files of the source owned by a mapping's containerID appear owned by
  /// its hostID (as seen from the host; the pod's user namespace maps them on). Empty: not idmapped.
  public var uidMappings: [IDMapping] = []
  public var gidMappings: [IDMapping] = []
  /// Extra restrictions on a bind mount, set on it and every mount below it: any of `nosuid`,
  /// `nodev`, `noexec` (as a CDI spec's mount options ask). JSON `"flags"`.
  public var flags: [String] = []
  public static let knownFlags = ["nosuid", "nodev", "noexec"]
  public var isIDMapped: Bool { !uidMappings.isEmpty || !gidMappings.isEmpty }
  /// An `image` mount's image: its ID (kept by image gc and refused by RemoveImage while the app
  /// exists), the name it was asked for, and its layer dirs. JSON `"image"`, as the app's own.
  public var image: AppImage?
  /// An `image` mount's directory inside the image (relative; resolved beneath the image's root, never
  /// out of it); nil: the image's root. JSON `"subPath"`.
  public var subPath: String?
  public init(
    destination: String, type: String = "bind", source: String, readOnly: Bool = false,
    propagation: Propagation = .rprivate, data: String? = nil, recursiveReadOnly: Bool = false
  ) {
    self.destination = destination
    self.type = type
    self.source = source
    self.readOnly = readOnly
    self.propagation = propagation
    self.data = data
    self.recursiveReadOnly = recursiveReadOnly
  }

  /// Why this mount cannot be made, nil when it can (checked when the manifest is written and read).
  public var problem: String? {
    if type == "image" {
      guard let image, !image.id.isEmpty, !image.layerDirs.isEmpty else { return "an image mount needs an image of the image store (an ID and its layers)" }
      if !readOnly { return "an image mount is read-only" }
      if let subPath, subPath.hasPrefix("/") { return "the image sub path \(subPath) must be relative" }
      return nil
    }
    if image != nil || subPath != nil { return "only an image mount has an image or a sub path" }
    guard recursiveReadOnly else { return nil }
    if type != "bind" { return "recursive read-only needs a bind mount" }
    if !readOnly { return "recursive read-only needs a read-only mount" }
    if propagation != .private && propagation != .rprivate { return "recursive read-only needs private propagation, not \(propagation.rawValue)" }
    return nil
  }
}

public struct AppRlimit: Sendable, Equatable {
  /// `RLIMIT_NOFILE`, `RLIMIT_NPROC`, …
  public var type: String
  public var soft: UInt64
  public var hard: UInt64
  public init(type: String, soft: UInt64, hard: UInt64) {
    self.type = type
    self.soft = soft
    self.hard = hard
  }
}

/// An app's cgroup limits. JSON keys (under `resources` in pod.json), all optional; absent = not set:
///   memoryBytes       memory limit (v1 memory.limit_in_bytes, v2 memory.max)
///   memorySwapBytes   memory + swap limit, CRI `memory_swap_limit_in_bytes` (v1 memory.memsw.limit_in_bytes;
///                     v2 memory.swap.max = this − memoryBytes); without it, a memory limit allows no swap
///   cpuMillis         CPU limit in millicores over a 100 ms period (`--cpu 500m`)
///   cpuPeriodUs       CFS period in µs (cpu.cfs_period_us); with cpuQuotaUs it replaces cpuMillis
///   cpuQuotaUs        CFS quota in µs per period (cpu.cfs_quota_us); −1 = no limit
///   cpuShares         CPU weight as CRI `cpu_shares` (v1 cpu.shares, v2 cpu.weight converted)
///   cpusetCpus        `0-1,3` (cpuset.cpus)        cpusetMems   `0` (cpuset.mems)
///   pidsMax           pids.max; 0 or −1 = no limit
///   hugepageLimits    [{"pageSize": "2MB", "limitBytes": N}] (hugetlb.<size>.limit_in_bytes, v2 .max)
///   unified           {"memory.high": "64M"}: cgroup v2 files written as given, after the fields above
///                     (CRI `unified`; refused on cgroup v1)
public struct AppResources: Sendable, Equatable {
  public var memoryBytes: Int64?
  /// CPU limit in millicores (1000 = one CPU): a CFS quota over a 100 ms period.
  public var cpuMillis: Int64?
  public var pidsMax: Int64?
  /// CPU weight as CRI `cpu_shares` (v1 `cpu.shares`).
  public var cpuShares: Int64?
  public var cpuPeriodUs: Int64?
  public var cpuQuotaUs: Int64?
  public var memorySwapBytes: Int64?
  public var cpusetCpus: String?
  public var cpusetMems: String?
  public var hugepageLimits: [HugepageLimit]
  /// cgroup v2 file → value.
  public var unified: [String: String] = [:]

  public struct HugepageLimit: Sendable, Equatable {
    /// `2MB`, `1GB` (the kernel's hugetlb file names).
    public var pageSize: String
    public var limitBytes: Int64
    public init(pageSize: String, limitBytes: Int64) {
      self.pageSize = pageSize
      self.limitBytes = limitBytes
    }
  }

  public init(
    memoryBytes: Int64? = nil, cpuMillis: Int64? = nil, pidsMax: Int64? = nil, cpuShares: Int64? = nil,
    cpuPeriodUs: Int64? = nil, cpuQuotaUs: Int64? = nil, memorySwapBytes: Int64? = nil, cpusetCpus: String? = nil,
    cpusetMems: String? = nil, hugepageLimits: [HugepageLimit] = []
  ) {
    self.memoryBytes = memoryBytes
    self.cpuMillis = cpuMillis
    self.pidsMax = pidsMax
    self.cpuShares = cpuShares
    self.cpuPeriodUs = cpuPeriodUs
    self.cpuQuotaUs = cpuQuotaUs
    self.memorySwapBytes = memorySwapBytes
    self.cpusetCpus = cpusetCpus
    self.cpusetMems = cpusetMems
    self.hugepageLimits = hugepageLimits
  }

  /// True when nothing is set.
  public var isEmpty: Bool { self == AppResources() }

  /// The CFS period to write, if any (100 ms whenever a quota comes from cpuMillis or cpuQuotaUs).
  public var effectiveCPUPeriodUs: Int64? {
    cpuPeriodUs ?? ((cpuMillis != nil || cpuQuotaUs != nil) ? 100_000 : nil)
  }

  /// The CFS quota to write, if any: cpuQuotaUs, else cpuMillis over the period (at least 1 ms).
  public var effectiveCPUQuotaUs: Int64? {
    if let cpuQuotaUs { return cpuQuotaUs }
    guard let cpuMillis else { return nil }
    return max(1000, cpuMillis * (effectiveCPUPeriodUs ?? 100_000) / 1000)
  }

  /// These resources with every field that `update` sets replaced (a live update: fields not given
  /// keep their values). A quota in millicores and an explicit quota replace each other.
  public func merged(with update: AppResources) -> AppResources {
    var r = self
    if let v = update.memoryBytes { r.memoryBytes = v }
    if let v = update.memorySwapBytes { r.memorySwapBytes = v }
    if let v = update.cpuMillis {
      r.cpuMillis = v
      r.cpuQuotaUs = nil
      if update.cpuPeriodUs == nil { r.cpuPeriodUs = nil }
    }
    if let v = update.cpuQuotaUs {
      r.cpuQuotaUs = v
      r.cpuMillis = nil
    }
    if let v = update.cpuPeriodUs { r.cpuPeriodUs = v }
    if let v = update.cpuShares { r.cpuShares = v }
    if let v = update.cpusetCpus { r.cpusetCpus = v }
    if let v = update.cpusetMems { r.cpusetMems = v }
    if let v = update.pidsMax { r.pidsMax = v }
    for h in update.hugepageLimits {
      if let i = r.hugepageLimits.firstIndex(where: { $0.pageSize == h.pageSize }) {
        r.hugepageLimits[i] = h
      } else {
        r.hugepageLimits.append(h)
      }
    }
    r.unified.merge(update.unified) { _, new in new }
    return r
  }

  /// Checks the values (not the host): errors name the field.
  public func validate(in ctx: String) throws(LiftoffError) {
    if let m = memoryBytes, m < 4096 * 1024 {
      throw .invalidArgument("\(ctx): memory limit \(m) bytes is below the 4 MiB minimum")
    }
    if let s = memorySwapBytes, s != -1 {
      guard let m = memoryBytes else {
        throw .invalidArgument("\(ctx): a memory+swap limit (\(s)) needs a memory limit")
      }
      guard s >= m else {
        throw .invalidArgument("\(ctx): memory+swap limit \(s) is below the memory limit \(m)")
      }
    }
    if let c = cpuMillis, c <= 0 { throw .invalidArgument("\(ctx): cpu limit must be positive") }
    if let p = cpuPeriodUs, p < 1000 || p > 1_000_000 {
      throw .invalidArgument("\(ctx): cpu period \(p) µs is outside 1000…1000000")
    }
    if let q = cpuQuotaUs, q != -1 && q < 1000 {
      throw .invalidArgument("\(ctx): cpu quota \(q) µs is below 1000 (or -1 for none)")
    }
    if let s = cpuShares, s < 2 || s > 262144 {
      throw .invalidArgument("\(ctx): cpu shares \(s) is outside 2…262144")
    }
    for (field, list) in [("cpuset cpus", cpusetCpus), ("cpuset mems", cpusetMems)] {
      if let list, !Self.isCPUList(list) {
        throw .invalidArgument("\(ctx): \(field) \(list) is not a list like 0-2,4")
      }
    }
    for (key, value) in unified.sorted(by: { $0.key < $1.key }) {
      if let problem = Self.unifiedKeyProblem(key) { throw .invalidArgument("\(ctx): unified key \"\(key)\" \(problem)") }
      guard !value.contains("\n"), !value.contains("\0") else {
        throw .invalidArgument("\(ctx): unified \(key) value must be one line")
      }
    }
    for h in hugepageLimits {
      guard Self.isPageSize(h.pageSize) else {
        throw .invalidArgument("\(ctx): hugepage size \(h.pageSize) is not like 2MB or 1GB")
      }
      guard h.limitBytes >= 0 else { throw .invalidArgument("\(ctx): hugepage \(h.pageSize) limit is negative") }
    }
  }

  /// `0-2,4,7-8` (the kernel's list format).
  public static func isCPUList(_ s: String) -> Bool {
    guard !s.isEmpty else { return false }
    for part in s.split(separator: ",", omittingEmptySubsequences: false) {
      let r = part.split(separator: "-", omittingEmptySubsequences: false)
      guard r.count == 1 || r.count == 2, r.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0 >= "0" && $0 <= "9" } }) else {
        return false
      }
      if r.count == 2, let a = Int(r[0]), let b = Int(r[1]), a > b { return false }
    }
    return true
  }

  /// `64KB`, `2MB`, `1GB`.
  public static func isPageSize(_ s: String) -> Bool {
    guard s.hasSuffix("KB") || s.hasSuffix("MB") || s.hasSuffix("GB") else { return false }
    let digits = s.dropLast(2)
    return !digits.isEmpty && digits.allSatisfy { $0 >= "0" && $0 <= "9" }
  }
}

// MARK: - JSON

extension PodManifest {
  public var json: JSON {
    .obj([
      ("version", .int(version)),
      ("id", .string(id)),
      ("createdAt", .string(createdAt)),
      ("flavor", .string(flavor.rawValue)),
      ("hostname", .string(hostname)),
      ("network", .obj([("mode", .string(network.mode.rawValue)), ("netnsPath", .str(network.netnsPath))])),
      ("mutable", .bool(mutable)),
      ("stopTimeoutSeconds", .int(stopTimeoutSeconds)),
      ("ipcNamespace", hostIPC ? .string("host") : nil),
      ("pidNamespace", sharedPID ? .string("pod") : nil),
      ("resources", resources.isEmpty ? nil : resources.json),
      ("cgroupParent", .str(cgroupParent)),
      ("systemdSlice", .str(systemdSlice)),
      ("userNamespace", userNamespace?.json),
      ("notifySocket", .str(notifySocket)),
      ("annotations", .map(annotations)),
      ("labels", .map(labels)),
      ("apps", .array(apps.map(\.json))),
    ])
  }

  public init(json j: JSON) throws(LiftoffError) {
    let ctx = "pod manifest"
    guard let v = try j.optInt64("version", in: ctx), v == Int64(Self.currentVersion) else {
      throw .invalidArgument("\(ctx): unsupported or missing version")
    }
    version = Int(v)
    id = try j.string("id", in: ctx)
    createdAt = try j.optString("createdAt", in: ctx) ?? ""
    let f = try j.optString("flavor", in: ctx) ?? "default"
    guard let fl = Flavor(rawValue: f) else { throw .invalidArgument("\(ctx): unknown flavor \(f)") }
    flavor = fl
    hostname = try j.optString("hostname", in: ctx) ?? ""
    let n = try j.require("network", in: ctx)
    let m = try n.string("mode", in: "\(ctx) network")
    guard let mode = PodNetwork.Mode(rawValue: m) else { throw .invalidArgument("\(ctx): unknown network mode \(m)") }
    network = PodNetwork(mode: mode, netnsPath: try n.optString("netnsPath", in: "\(ctx) network"))
    mutable = try j.optBool("mutable", in: ctx) ?? false
    stopTimeoutSeconds = Int(try j.optInt64("stopTimeoutSeconds", in: ctx) ?? 10)
    switch try j.optString("ipcNamespace", in: ctx) {
    case nil, "pod": hostIPC = false
    case "host": hostIPC = true
    case let other?: throw .invalidArgument("\(ctx): unknown ipcNamespace \(other)")
    }
    resources = try AppResources(json: j["resources"] ?? .object([]), in: ctx)
    cgroupParent = try j.optString("cgroupParent", in: ctx)
    if let p = cgroupParent, p.isEmpty || p.hasPrefix("/") || p.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) {
      throw .invalidArgument("\(ctx): cgroupParent \(p) is not a relative path of names")
    }
    systemdSlice = try j.optString("systemdSlice", in: ctx)
    if let s = systemdSlice, !s.hasSuffix(".slice") || s.contains("/") {
      throw .invalidArgument("\(ctx): systemdSlice \(s) is not a slice unit name")
    }
    switch try j.optString("pidNamespace", in: ctx) {
    case nil, "container": sharedPID = false
    case "pod": sharedPID = true
    case let other?: throw .invalidArgument("\(ctx): unknown pidNamespace \(other)")
    }
    if let u = j["userNamespace"], !u.isNull {
      guard fl == .default else { throw .invalidArgument("\(ctx): userNamespace: stage1 fly runs in the host's namespaces") }
      userNamespace = try UserNamespaceMappings(json: u, in: "\(ctx) userNamespace")
    }
    notifySocket = try j.optString("notifySocket", in: ctx)
    if let n = notifySocket, !(n.hasPrefix("/") || n.hasPrefix("@")) {
      throw .invalidArgument("\(ctx): notifySocket \(n) is not a socket path or an abstract name")
    }
    annotations = try j.stringMap("annotations", in: ctx)
    labels = try j.stringMap("labels", in: ctx)
    var apps: [AppManifest] = []
    for a in try j.objects("apps", in: ctx) { apps.append(try AppManifest(json: a)) }
    self.apps = apps
  }

  public static func parse(_ text: String) throws(LiftoffError) -> PodManifest {
    try PodManifest(json: JSON.parse(text))
  }
}

extension AppManifest {
  public var json: JSON {
    let members: [(String, JSON?)] = [
      ("name", .string(name)),
      ("image", image.json),
      ("exec", .strs(exec)),
      ("env", .strs(env)),
      ("workingDir", .string(workingDir)),
      ("user", .obj([
        ("uid", .int(user.uid)), ("gid", .int(user.gid)),
        ("additionalGids", .array(user.additionalGids.map { JSON(integer: $0) })),
      ])),
      ("readOnlyRootfs", .bool(readOnlyRootfs)),
      ("capabilities", .strs(capabilities)),
      ("ambientCapabilities", ambientCapabilities.isEmpty ? nil : .strs(ambientCapabilities)),
      ("noNewPrivileges", .bool(noNewPrivileges)),
      ("seccomp", .string(seccomp)),
      ("mounts", .array(mounts.map { m in
        .obj([
          ("destination", .string(m.destination)), ("type", .string(m.type)), ("source", .string(m.source)),
          ("readOnly", .bool(m.readOnly)), ("propagation", .string(m.propagation.rawValue)), ("data", .str(m.data)),
          ("recursiveReadOnly", m.recursiveReadOnly ? .bool(true) : nil),
          ("flags", m.flags.isEmpty ? nil : .strs(m.flags)),
          ("uidMappings", m.uidMappings.isEmpty ? nil : .array(m.uidMappings.map(\.json))),
          ("gidMappings", m.gidMappings.isEmpty ? nil : .array(m.gidMappings.map(\.json))),
          ("image", m.image?.json), ("subPath", .str(m.subPath)),
        ])
      })),
      ("rlimits", .array(rlimits.map { r in
        .obj([("type", .string(r.type)), ("soft", JSON(integer: r.soft)), ("hard", JSON(integer: r.hard))])
      })),
      ("resources", resources.json),
      ("oomScoreAdj", .int(oomScoreAdj)),
      ("maskedPaths", .strs(maskedPaths)),
      ("readonlyPaths", .strs(readonlyPaths)),
      ("interactive", .bool(interactive)),
      ("listenFDs", .int(listenFDs == 0 ? nil : listenFDs)),
      ("listenFDNames", .str(listenFDNames)),
      ("stopSignal", .int(stopSignal)),
      ("logPath", .str(logPath)),
      ("createdAt", .string(createdAt)),
      ("annotations", .map(annotations)),
      ("labels", .map(labels)),
      ("tty", .bool(tty)),
      ("stdin", .bool(stdin)),
      ("stdinOnce", .bool(stdinOnce)),
      ("hooks", hooks.isEmpty ? nil : .array(hooks.map(\.json))),
    ]
    return .obj(members + security.jsonMembers)
  }

  public init(json j: JSON) throws(LiftoffError) {
    name = try j.string("name", in: "app")
    let ctx = "app \(name)"
    image = try AppImage(json: try j.require("image", in: ctx), in: "\(ctx) image")
    exec = try j.strings("exec", in: ctx)
    guard !exec.isEmpty else { throw .invalidArgument("\(ctx): empty exec") }
    env = try j.strings("env", in: ctx)
    workingDir = try j.optString("workingDir", in: ctx) ?? "/"
    let u = try j.require("user", in: ctx)
    func id32(_ v: Int64?, _ field: String) throws(LiftoffError) -> UInt32 {
      guard let v else { return 0 }
      guard v >= 0 && v <= Int64(UInt32.max) else { throw .invalidArgument("\(ctx): user.\(field) out of range") }
      return UInt32(v)
    }
    var gids: [UInt32] = []
    for g in try u.objects("additionalGids", in: "\(ctx) user") {
      guard let i = g.int64Value, i >= 0, i <= Int64(UInt32.max) else {
        throw .invalidArgument("\(ctx): user.additionalGids holds a bad id")
      }
      gids.append(UInt32(i))
    }
    user = AppUser(
      uid: try id32(u.optInt64("uid", in: "\(ctx) user"), "uid"),
      gid: try id32(u.optInt64("gid", in: "\(ctx) user"), "gid"), additionalGids: gids)
    readOnlyRootfs = try j.optBool("readOnlyRootfs", in: ctx) ?? false
    capabilities = try j.strings("capabilities", in: ctx)
    ambientCapabilities = try j.strings("ambientCapabilities", in: ctx)
    for c in ambientCapabilities where !capabilities.contains(c) {
      throw .invalidArgument("\(ctx): ambient capability \(c) is not one of the app's capabilities")
    }
    noNewPrivileges = try j.optBool("noNewPrivileges", in: ctx) ?? true
    seccomp = try j.optString("seccomp", in: ctx) ?? "runtime/default"
    var mounts: [AppMount] = []
    for m in try j.objects("mounts", in: ctx) {
      let mc = "\(ctx) mount"
      let p = try m.optString("propagation", in: mc) ?? "rprivate"
      guard let prop = AppMount.Propagation(rawValue: p) else { throw .invalidArgument("\(mc): unknown propagation \(p)") }
      var mount = AppMount(
        destination: try m.string("destination", in: mc), type: try m.optString("type", in: mc) ?? "bind",
        source: try m.optString("source", in: mc) ?? "", readOnly: try m.optBool("readOnly", in: mc) ?? false,
        propagation: prop, data: try m.optString("data", in: mc),
        recursiveReadOnly: try m.optBool("recursiveReadOnly", in: mc) ?? false)
      if let im = m["image"] { mount.image = try AppImage(json: im, in: "\(mc) image") }
      mount.subPath = try m.optString("subPath", in: mc)
      mount.flags = try m.strings("flags", in: mc)
      for f in mount.flags where !AppMount.knownFlags.contains(f) { throw .invalidArgument("\(mc) \(mount.destination): unknown flag \(f)") }
      if let problem = mount.problem { throw .invalidArgument("\(mc) \(mount.destination): \(problem)") }
      mount.uidMappings = try IDMapping.list(json: m, key: "uidMappings", in: "\(mc) \(mount.destination)")
      mount.gidMappings = try IDMapping.list(json: m, key: "gidMappings", in: "\(mc) \(mount.destination)")
      try mount.validateIDMapping(in: "\(mc) \(mount.destination)")
      mounts.append(mount)
    }
    self.mounts = mounts
    var rl: [AppRlimit] = []
    for r in try j.objects("rlimits", in: ctx) {
      let soft = try r.optUInt64("soft", in: "\(ctx) rlimit") ?? 0
      let hard = try r.optUInt64("hard", in: "\(ctx) rlimit") ?? 0
      rl.append(AppRlimit(type: try r.string("type", in: "\(ctx) rlimit"), soft: soft, hard: hard))
    }
    rlimits = rl
    resources = try AppResources(json: j["resources"] ?? .object([]), in: ctx)
    oomScoreAdj = try j.optInt64("oomScoreAdj", in: ctx).map { Int($0) }
    maskedPaths = try j.strings("maskedPaths", in: ctx)
    readonlyPaths = try j.strings("readonlyPaths", in: ctx)
    interactive = try j.optBool("interactive", in: ctx) ?? false
    listenFDs = Int(try j.optInt64("listenFDs", in: ctx) ?? 0)
    guard (0...1024).contains(listenFDs) else { throw LiftoffError.invalidArgument("\(ctx): listenFDs \(listenFDs) is not 0-1024") }
    listenFDNames = try j.optString("listenFDNames", in: ctx)
    stopSignal = try j.optInt64("stopSignal", in: ctx).map { Int($0) }
    logPath = try j.optString("logPath", in: ctx)
    createdAt = try j.optString("createdAt", in: ctx) ?? ""
    annotations = try j.stringMap("annotations", in: ctx)
    labels = try j.stringMap("labels", in: ctx)
    tty = try j.optBool("tty", in: ctx) ?? false
    stdin = try j.optBool("stdin", in: ctx) ?? false
    stdinOnce = try j.optBool("stdinOnce", in: ctx) ?? false
    security = try AppSecurity(json: j, in: ctx)
    for (i, h) in try j.objects("hooks", in: ctx).enumerated() { hooks.append(try AppHook(json: h, in: "\(ctx) hooks[\(i)]")) }
  }
}

extension AppResources {
  /// Why `key` cannot be a cgroup v2 `unified` key, nil when it can: a file of the group itself
  /// (`controller.name`, no path), and none of the files that move processes or enable controllers.
  public static func unifiedKeyProblem(_ key: String) -> String? {
    let parts = key.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count >= 2, parts.allSatisfy({ !$0.isEmpty }),
      key.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7a) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2e || $0 == 0x5f })
    else { return "is not a cgroup file name like memory.high" }
    if parts[0] == "cgroup" && ["procs", "threads", "subtree_control", "type", "kill"].contains(String(parts[1])) {
      return "would move processes or change the hierarchy"
    }
    return nil
  }

  public var json: JSON {
    .obj([
      ("memoryBytes", .int(memoryBytes)), ("cpuMillis", .int(cpuMillis)), ("pidsMax", .int(pidsMax)),
      ("cpuShares", .int(cpuShares)), ("cpuPeriodUs", .int(cpuPeriodUs)), ("cpuQuotaUs", .int(cpuQuotaUs)),
      ("memorySwapBytes", .int(memorySwapBytes)), ("cpusetCpus", .str(cpusetCpus)), ("cpusetMems", .str(cpusetMems)),
      ("hugepageLimits", .array(hugepageLimits.map { .obj([("pageSize", .string($0.pageSize)), ("limitBytes", .int($0.limitBytes))]) })),
      ("unified", unified.isEmpty ? nil : .map(unified)),
    ])
  }

  public init(json res: JSON, in ctx: String) throws(LiftoffError) {
    var pages: [HugepageLimit] = []
    for h in try res.objects("hugepageLimits", in: "\(ctx) resources") {
      pages.append(
        HugepageLimit(
          pageSize: try h.string("pageSize", in: "\(ctx) hugepage limit"),
          limitBytes: try h.optInt64("limitBytes", in: "\(ctx) hugepage limit") ?? 0))
    }
    self.init(
      memoryBytes: try res.optInt64("memoryBytes", in: ctx), cpuMillis: try res.optInt64("cpuMillis", in: ctx),
      pidsMax: try res.optInt64("pidsMax", in: ctx), cpuShares: try res.optInt64("cpuShares", in: ctx),
      cpuPeriodUs: try res.optInt64("cpuPeriodUs", in: ctx), cpuQuotaUs: try res.optInt64("cpuQuotaUs", in: ctx),
      memorySwapBytes: try res.optInt64("memorySwapBytes", in: ctx), cpusetCpus: try res.optString("cpusetCpus", in: ctx),
      cpusetMems: try res.optString("cpusetMems", in: ctx), hugepageLimits: pages)
    unified = try res.stringMap("unified", in: "\(ctx) resources")
  }
}
