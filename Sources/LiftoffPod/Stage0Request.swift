// The one request of each `liftoff` verb that liftoff-cri drives, and its answer: what crosses the
// liftoff-cri → liftoff boundary, typed once, in LiftoffCore's JSON.
//
//   liftoff-cri                                          liftoff (stage0)
//   ───────────                                          ────────────────
//   Stage0Request.json ── stdin ──▶ `liftoff [--dir D …] app add --spec-file -`
//                                     Stage0Request(json:) → the command function the flags call too
//                       ◀── stdout ── one Stage0Answer: {"ok": RESULT} | {"error": {"code", "message"}}
//   code → gRPC status 1:1 (RPCError+Liftoff); no JSON on stdout (a crash) → INTERNAL with stderr
//
// The flags (`liftoff app add POD IMAGE --volume …`) build the same values, so flags and JSON run one
// path. Strings stay strings: a host path may hold ':' and a masked path ',' — no flag grammar here.
// Unknown keys and wrong types are refused naming the key path (JSONObjectReader). `"v"`: the request
// format's level (Stage0Request.level); a request above this build's level is refused, a missing
// one is level 1.
import LiftoffCore
import LiftoffNet

public enum Stage0Request: Sendable, Equatable {
  /// `app sandbox`: an empty mutable pod. Answer: `{"id": POD}`.
  case sandbox(SandboxRequest)
  /// `app add`: an app added to a mutable pod (not started). Answer: `{"app": NAME}`.
  case add(pod: String, app: AppOptions)
  case start(pod: String, app: String)
  case stop(pod: String, app: String, timeoutSeconds: Int)
  case remove(pod: String, app: String)
  /// `app update`: limits of an app, or of the pod's own cgroup (`app` nil). Answer: the applied values.
  case update(pod: String, app: String?, resources: AppResources, oomScoreAdj: Int?)
  case reopenLog(pod: String, app: String)
  /// `stop`: pods (`timeoutSeconds` nil: each pod's own).
  case stopPods(ids: [String], force: Bool, timeoutSeconds: Int?)
  /// `rm`: pods.
  case removePods(ids: [String])

  /// 2: `app sandbox`'s ports and CNI_ARGS are typed (`portMappings` objects, `cniArgs` a map), not
  /// flag strings.
  public static let level = 2

  /// The command line words of the verb (`app add`, `stop`): what `--spec-file` follows.
  public var verb: String {
    switch self {
    case .sandbox: return "app sandbox"
    case .add: return "app add"
    case .start: return "app start"
    case .stop: return "app stop"
    case .remove: return "app rm"
    case .update: return "app update"
    case .reopenLog: return "app reopen-log"
    case .stopPods: return "stop"
    case .removePods: return "rm"
    }
  }

  public static let verbs = ["app sandbox", "app add", "app start", "app stop", "app rm", "app update", "app reopen-log", "stop", "rm"]

  public var json: JSON { json(settings: nil) }

  /// The request with the node settings it runs with (what `liftoff`'s global flags give otherwise).
  public func json(settings: Stage0Settings?) -> JSON {
    let head: [(String, JSON?)] = [("v", .int(Self.level)), ("op", .string(verb)), ("settings", settings?.json)]
    switch self {
    case .sandbox(let s): return .obj(head + [("sandbox", s.json)])
    case .add(let pod, let app): return .obj(head + [("pod", .string(pod)), ("app", app.json)])
    case .start(let pod, let app), .remove(let pod, let app), .reopenLog(let pod, let app):
      return .obj(head + [("pod", .string(pod)), ("app", .string(app))])
    case .stop(let pod, let app, let t):
      return .obj(head + [("pod", .string(pod)), ("app", .string(app)), ("timeoutSeconds", .int(t))])
    case .update(let pod, let app, let r, let oom):
      return .obj(head + [("pod", .string(pod)), ("app", .str(app)), ("resources", r.json), ("oomScoreAdj", .int(oom))])
    case .stopPods(let ids, let force, let t):
      return .obj(head + [("pods", .strs(ids)), ("force", .flag(force)), ("timeoutSeconds", .int(t))])
    case .removePods(let ids): return .obj(head + [("pods", .strs(ids))])
    }
  }

  public init(json j: JSON) throws(LiftoffError) {
    let (request, settings) = try Self.read(j)
    guard settings == nil else { throw .invalidArgument("settings: not expected here") }
    self = request
  }

  /// A request and the node settings it carries (nil when it has none).
  public static func read(_ j: JSON) throws(LiftoffError) -> (Stage0Request, Stage0Settings?) {
    var r = try JSONObjectReader(j, path: "")
    let request = try Stage0Request(&r)
    var settings: Stage0Settings?
    if var s = try r.optObject("settings") {
      settings = try Stage0Settings(&s)
      try s.finish()
    }
    try r.finish()
    return (request, settings)
  }

  /// Refuses a request (`"v"`, 1 when missing) of a higher level than this build's.
  static func checkLevel(_ r: inout JSONObjectReader) throws(LiftoffError) {
    let level = try r.optInt64("v") ?? 1
    guard level <= Int64(Self.level) else {
      throw .init(.failedPrecondition, "v: request level \(level) is newer than this liftoff's (\(Self.level))")
    }
  }

  /// The level and the verb's fields (the caller finishes `r`).
  init(_ r: inout JSONObjectReader) throws(LiftoffError) {
    try Self.checkLevel(&r)
    let op = try r.string("op")
    switch op {
    case "app sandbox":
      guard var s = try r.optObject("sandbox") else { throw .invalidArgument("sandbox: missing") }
      self = .sandbox(try SandboxRequest(&s))
      try s.finish()
    case "app add":
      guard var a = try r.optObject("app") else { throw .invalidArgument("app: missing") }
      self = .add(pod: try r.string("pod"), app: try AppOptions(&a))
      try a.finish()
    case "app start": self = .start(pod: try r.string("pod"), app: try r.string("app"))
    case "app stop":
      self = .stop(pod: try r.string("pod"), app: try r.string("app"), timeoutSeconds: try r.int("timeoutSeconds", default: 10))
    case "app rm": self = .remove(pod: try r.string("pod"), app: try r.string("app"))
    case "app reopen-log": self = .reopenLog(pod: try r.string("pod"), app: try r.string("app"))
    case "app update":
      let resources = try r.value("resources").map { j throws(LiftoffError) in
        try JSONObjectReader.checkKeys(j, AppResources.jsonKeys, path: "resources")
        return try AppResources(json: j, in: "resources")
      }
      self = .update(pod: try r.string("pod"), app: try r.optString("app"), resources: resources ?? AppResources(), oomScoreAdj: try r.optInt("oomScoreAdj"))
    case "stop": self = .stopPods(ids: try r.strings("pods"), force: try r.bool("force", default: false), timeoutSeconds: try r.optInt("timeoutSeconds"))
    case "rm": self = .removePods(ids: try r.strings("pods"))
    default: throw .invalidArgument("op: unknown verb \"\(op)\" (expected one of \(Self.verbs.joined(separator: ", ")))")
    }
  }
}

/// `liftoff run|prepare --spec-file -|PATH`'s request: the pod's settings (as `app sandbox` takes them)
/// and its apps, in the order they run. The flags (`--net`, `IMAGE --volume … --- IMAGE …`) build the
/// same values; `run` then becomes the pod and `prepare` prints its ID, as with flags.
public struct PodRequest: Sendable, Equatable {
  public var pod = SandboxRequest()
  public var apps: [AppOptions] = []

  public init(pod: SandboxRequest = SandboxRequest(), apps: [AppOptions] = []) {
    self.pod = pod
    self.apps = apps
  }

  public var json: JSON {
    .obj([("v", .int(Stage0Request.level)), ("pod", pod.json), ("apps", .array(apps.map(\.json)))])
  }

  public init(json j: JSON) throws(LiftoffError) {
    var r = try JSONObjectReader(j, path: "")
    try Stage0Request.checkLevel(&r)
    if var s = try r.optObject("pod") {
      pod = try SandboxRequest(&s)
      try s.finish()
    }
    apps = try r.objects("apps") { (a: inout JSONObjectReader) throws(LiftoffError) in try AppOptions(&a) }
    guard !apps.isEmpty else { throw .invalidArgument("apps: a pod needs at least one app") }
    try r.finish()
  }
}

/// The node settings a request runs with: what `liftoff`'s global flags (`--dir`, `--cni-conf-dir`,
/// `--cni-bin-dir`, `--cni-default-network`, `--trust-dir`) give a person; liftoff-cri sends its
/// own here, so that nothing of its configuration is rendered as flags. A field left out takes
/// `liftoff`'s default (as a flag left out does).
public struct Stage0Settings: Sendable, Equatable {
  public var dir: String?
  public var cniConfDir: String?
  /// Searched in order.
  public var cniBinDirs: [String]?
  /// The embedded default network when the conf dir has none.
  public var cniDefaultNetwork: Bool?
  public var trustDir: String?

  public init(
    dir: String? = nil, cniConfDir: String? = nil, cniBinDirs: [String]? = nil, cniDefaultNetwork: Bool? = nil,
    trustDir: String? = nil
  ) {
    self.dir = dir
    self.cniConfDir = cniConfDir
    self.cniBinDirs = cniBinDirs
    self.cniDefaultNetwork = cniDefaultNetwork
    self.trustDir = trustDir
  }

  public var json: JSON {
    .obj([
      ("dir", .str(dir)), ("cniConfDir", .str(cniConfDir)), ("cniBinDirs", .strs(cniBinDirs)),
      ("cniDefaultNetwork", cniDefaultNetwork.map { .bool($0) }), ("trustDir", .str(trustDir)),
    ])
  }

  init(_ r: inout JSONObjectReader) throws(LiftoffError) {
    dir = try r.optString("dir")
    cniConfDir = try r.optString("cniConfDir")
    cniBinDirs = try r.optStrings("cniBinDirs")
    cniDefaultNetwork = r.value("cniDefaultNetwork") == nil ? nil : try r.bool("cniDefaultNetwork", default: true)
    trustDir = try r.optString("trustDir")
    for (i, d) in (cniBinDirs ?? []).enumerated() where d.isEmpty || d.contains(":") {
      throw .invalidArgument("\(r.at("cniBinDirs", i)): \"\(d)\" is not a directory's path (empty, or holds ':')")
    }
  }
}

/// What `liftoff … --spec-file` prints: exactly one JSON document.
public enum Stage0Answer: Sendable, Equatable {
  /// The verb's result (`{}` when it has none).
  case ok(JSON)
  /// A LiftoffError: `code` is its `LiftoffError.Code` raw value.
  case error(LiftoffError.Code, String)

  public var json: JSON {
    switch self {
    case .ok(let r): return .obj([("ok", r)])
    case .error(let c, let m): return .obj([("error", .obj([("code", .string(c.rawValue)), ("message", .string(m))]))])
    }
  }

  public init(json j: JSON) throws(LiftoffError) {
    var r = try JSONObjectReader(j, path: "answer")
    if let ok = r.value("ok") {
      self = .ok(ok)
    } else if var e = try r.optObject("error") {
      let code = try e.string("code")
      self = .error(LiftoffError.Code(rawValue: code) ?? .internal, try e.string("message"))
      try e.finish()
    } else {
      throw .invalidArgument("answer: neither ok nor error")
    }
    try r.finish()
  }

  /// The result, or the error liftoff raised.
  public func result() throws(LiftoffError) -> JSON {
    switch self {
    case .ok(let r): return r
    case .error(let c, let m): throw LiftoffError(c, m)
    }
  }
}

/// `app sandbox`'s request: the pod-level settings of `liftoff app sandbox`'s flags.
public struct SandboxRequest: Sendable, Equatable {
  /// `none`, `host`, `default` (the node's CNI network) or a CNI network's name (CNI_ARGS go in
  /// `cniArgs`, not after a `:` as on `--net`).
  public var net = "none"
  /// Host ports (CNI `portMappings`; needs a CNI network), checked by `sandbox`: ports in 1–65535,
  /// tcp/udp/sctp, an IP address or empty (all) as the host address.
  public var portMappings: [PodNetworkRequest.PortMapping] = []
  public var dns: [String] = []
  public var dnsSearch: [String] = []
  public var dnsOptions: [String] = []
  /// CNI_ARGS (needs a CNI network); K8S_POD_NAMESPACE, K8S_POD_NAME and K8S_POD_UID name the pod.
  public var cniArgs: [String: String] = [:]
  public var hostname: String?
  /// `default` or `fly`.
  public var stage1 = "default"
  public var stopTimeoutSeconds = 10
  public var annotations: [String: String] = [:]
  public var labels: [String: String] = [:]
  public var userNamespace: UserNamespaceMappings?
  /// `pod` or `host`.
  public var ipcNamespace = "pod"
  /// `container` or `pod`.
  public var pidNamespace = "container"
  public var cgroupParent: String?
  /// `cgroupfs` or `systemd`.
  public var cgroupDriver = "cgroupfs"

  public init() {}

  public var json: JSON {
    var m: [(String, JSON?)] = []
    m.append(("net", .string(net)))
    m.append(("portMappings", portMappings.isEmpty ? nil : .array(portMappings.map(\.json))))
    m.append(("dns", .list(dns)))
    m.append(("dnsSearch", .list(dnsSearch)))
    m.append(("dnsOptions", .list(dnsOptions)))
    m.append(("cniArgs", .dict(cniArgs)))
    m.append(("hostname", .str(hostname)))
    m.append(("stage1", .string(stage1)))
    m.append(("stopTimeoutSeconds", .int(stopTimeoutSeconds)))
    m.append(("annotations", .dict(annotations)))
    m.append(("labels", .dict(labels)))
    m.append(("userNamespace", userNamespace?.json))
    m.append(("ipcNamespace", .string(ipcNamespace)))
    m.append(("pidNamespace", .string(pidNamespace)))
    m.append(("cgroupParent", .str(cgroupParent)))
    m.append(("cgroupDriver", .string(cgroupDriver)))
    return .obj(m)
  }

  public init(_ r: inout JSONObjectReader) throws(LiftoffError) {
    net = try r.string("net", default: net)
    portMappings = try r.objects("portMappings") { (m: inout JSONObjectReader) throws(LiftoffError) in
      try PodNetworkRequest.PortMapping(&m)
    }
    dns = try r.strings("dns")
    dnsSearch = try r.strings("dnsSearch")
    dnsOptions = try r.strings("dnsOptions")
    cniArgs = try r.stringMap("cniArgs")
    hostname = try r.optString("hostname")
    stage1 = try r.string("stage1", default: stage1)
    stopTimeoutSeconds = try r.int("stopTimeoutSeconds", default: stopTimeoutSeconds)
    annotations = try r.stringMap("annotations")
    labels = try r.stringMap("labels")
    if let u = r.value("userNamespace") {
      try JSONObjectReader.checkKeys(u, ["uidMappings", "gidMappings"], path: r.at("userNamespace"))
      userNamespace = try UserNamespaceMappings(json: u, in: r.at("userNamespace"))
    }
    ipcNamespace = try r.string("ipcNamespace", default: ipcNamespace)
    pidNamespace = try r.string("pidNamespace", default: pidNamespace)
    cgroupParent = try r.optString("cgroupParent")
    cgroupDriver = try r.string("cgroupDriver", default: cgroupDriver)
  }
}

/// A device an app asks for: a host node (its type and numbers read from the host), or one described
/// in full (a CDI spec's).
public enum AppDeviceRequest: Sendable, Equatable {
  /// `--device HOST[:CONTAINER[:rwm]]`; `containerPath` is HOST's path when not given.
  case host(path: String, containerPath: String, permissions: String)
  /// `--device path=…,type=…`: the node as given.
  case described(AppDevice)

  var json: JSON {
    switch self {
    case .host(let p, let c, let perms):
      return .obj([("hostPath", .string(p)), ("path", .string(c)), ("permissions", .string(perms))])
    case .described(let d):
      return .obj([
        ("path", .string(d.path)), ("type", .string(d.type)), ("major", .int(d.major)), ("minor", .int(d.minor)),
        ("fileMode", .int(d.fileMode)), ("uid", .int(d.uid)), ("gid", .int(d.gid)), ("permissions", .string(d.permissions)),
      ])
    }
  }

  init(_ r: inout JSONObjectReader) throws(LiftoffError) {
    let path = try r.string("path")
    let permissions = try r.string("permissions", default: "rwm")
    if let host = try r.optString("hostPath") {
      self = .host(path: host, containerPath: path, permissions: permissions)
      return
    }
    self = .described(
      AppDevice(
        path: path, type: try r.string("type"), major: try r.uint32("major"), minor: try r.uint32("minor"),
        fileMode: try r.uint32("fileMode", default: 0o666), uid: try r.uint32("uid", default: 0), gid: try r.uint32("gid", default: 0),
        permissions: permissions))
  }
}

extension ResolvedImage {
  /// An image only named so far (`AppOptions(json:)`, the flags): `AppOptions.resolvingImages` looks it up.
  public static let unresolved = ResolvedImage(
    id: "", names: [], manifestDigest: nil, config: ImageConfig(architecture: "", os: "", rootfs: RootFS(diffIDs: [])), layerDirs: [])
}

extension AppOptions {
  /// An app whose image (and image volumes) `resolvingImages` will look up by name.
  public init(imageName: String) { self.init(image: .unresolved, imageName: imageName) }

  /// The app with its image and its image volumes' images looked up (the store, the trust policy).
  public func resolvingImages(_ resolver: any ImageResolving) throws(LiftoffError) -> AppOptions {
    var o = self
    if o.image.id.isEmpty && o.image.layerDirs.isEmpty { o.image = try resolver.resolve(imageName) }
    for i in o.mounts.indices where o.mounts[i].type == "image" {
      guard let asked = o.mounts[i].image else { throw .invalidArgument("mount \(o.mounts[i].destination): an image mount needs an image") }
      if asked.layerDirs.isEmpty {
        let image = try resolver.resolve(asked.id)
        o.mounts[i].source = image.id
        o.mounts[i].image = AppImage(name: asked.name, id: image.id, layerDirs: image.layerDirs)
      }
      if let problem = o.mounts[i].problem { throw .invalidArgument("mount \(o.mounts[i].destination): \(problem)") }
    }
    return o
  }

  /// The app as JSON: one line per field here and in `init(_:)`. The image is its name (looked up by
  /// liftoff); absent fields are their defaults.
  public var json: JSON {
    var m: [(String, JSON?)] = []
    m.append(("image", .string(imageName)))
    m.append(("name", .str(name)))
    m.append(("exec", .str(exec)))
    m.append(("args", .strs(args)))
    m.append(("env", .list(env)))
    m.append(("user", .str(user)))
    m.append(("group", .str(group)))
    m.append(("workingDir", .str(workingDir)))
    m.append(("mounts", mounts.isEmpty ? nil : .array(mounts.map(\.requestJSON))))
    m.append(("readOnlyRootfs", .flag(readOnlyRootfs)))
    m.append(("capsRetain", .strs(capsRetain)))
    m.append(("capsAmbient", .list(capsAmbient)))
    m.append(("capsRemove", .list(capsRemove)))
    m.append(("seccomp", .string(seccomp)))
    m.append(("resources", resources.isEmpty ? nil : resources.json))
    m.append(("rlimits", rlimits.isEmpty ? nil : .array(rlimits.map { .obj([("type", .string($0.type)), ("soft", .int($0.soft)), ("hard", .int($0.hard))]) })))
    m.append(("oomScoreAdj", .int(oomScoreAdj)))
    m.append(("interactive", .flag(interactive)))
    m.append(("noNewPrivileges", .bool(noNewPrivileges)))
    m.append(("stopSignal", .str(stopSignal)))
    m.append(("logPath", .str(logPath)))
    m.append(("annotations", .dict(annotations)))
    m.append(("labels", .dict(labels)))
    m.append(("privileged", .flag(privileged)))
    m.append(("maskedPaths", .strs(maskedPaths)))
    m.append(("readonlyPaths", .strs(readonlyPaths)))
    m.append(("sysctls", .dict(sysctls)))
    m.append(("devices", devices.isEmpty ? nil : .array(devices.map(\.json))))
    m.append(("supplementaryGroups", supplementaryGroups.isEmpty ? nil : .array(supplementaryGroups.map { JSON(integer: $0) })))
    m.append(("supplementaryGroupsStrict", .flag(supplementaryGroupsStrict)))
    m.append(("pidNamespace", .str(pidNamespace?.rawValue)))
    m.append(("pidTarget", .str(pidTarget)))
    m.append(("tty", .flag(tty)))
    m.append(("stdin", .flag(stdin)))
    m.append(("stdinOnce", .flag(stdinOnce)))
    m.append(("listenFDs", listenFDs == 0 ? nil : .int(listenFDs)))
    m.append(("listenFDNames", .str(listenFDNames)))
    m.append(("hooks", hooks.isEmpty ? nil : .array(hooks.map(\.json))))
    return .obj(m)
  }

  /// Reads the fields of `json`; the caller finishes `r` (unknown keys).
  public init(_ r: inout JSONObjectReader) throws(LiftoffError) {
    self.init(imageName: try r.string("image"))
    name = try r.optString("name")
    exec = try r.optString("exec")
    args = try r.optStrings("args")
    env = try r.strings("env")
    user = try r.optString("user")
    group = try r.optString("group")
    workingDir = try r.optString("workingDir")
    mounts = try r.objects("mounts") { m throws(LiftoffError) in try AppMount(request: &m) }
    readOnlyRootfs = try r.bool("readOnlyRootfs", default: false)
    capsRetain = try r.optStrings("capsRetain")
    capsAmbient = try r.strings("capsAmbient")
    capsRemove = try r.strings("capsRemove")
    seccomp = try r.string("seccomp", default: seccomp)
    if let j = r.value("resources") {
      try JSONObjectReader.checkKeys(j, AppResources.jsonKeys, path: r.at("resources"))
      resources = try AppResources(json: j, in: r.at("resources"))
    }
    rlimits = try r.objects("rlimits") { l throws(LiftoffError) in
      AppRlimit(type: try l.string("type"), soft: try l.optUInt64("soft") ?? 0, hard: try l.optUInt64("hard") ?? 0)
    }
    oomScoreAdj = try r.optInt("oomScoreAdj")
    interactive = try r.bool("interactive", default: false)
    noNewPrivileges = try r.bool("noNewPrivileges", default: true)
    stopSignal = try r.optString("stopSignal")
    logPath = try r.optString("logPath")
    annotations = try r.stringMap("annotations")
    labels = try r.stringMap("labels")
    privileged = try r.bool("privileged", default: false)
    maskedPaths = try r.optStrings("maskedPaths")
    readonlyPaths = try r.optStrings("readonlyPaths")
    sysctls = try r.stringMap("sysctls")
    devices = try r.objects("devices") { d throws(LiftoffError) in try AppDeviceRequest(&d) }
    supplementaryGroups = try r.uint32s("supplementaryGroups")
    supplementaryGroupsStrict = try r.bool("supplementaryGroupsStrict", default: false)
    if let p = try r.optString("pidNamespace") {
      guard let ns = AppSecurity.PIDNamespace(rawValue: p) else { throw .invalidArgument("\(r.at("pidNamespace")): unknown \(p)") }
      pidNamespace = ns
    }
    pidTarget = try r.optString("pidTarget")
    tty = try r.bool("tty", default: false)
    stdin = try r.bool("stdin", default: false)
    stdinOnce = try r.bool("stdinOnce", default: false)
    listenFDs = try r.int("listenFDs", default: 0)
    listenFDNames = try r.optString("listenFDNames")
    for (i, h) in (try r.optArray("hooks") ?? []).enumerated() { hooks.append(try AppHook(json: h, in: r.at("hooks", i))) }
  }
}

extension AppMount {
  /// A mount as a request gives it: an image mount's image by ID or name (`image: {id, name}`), looked
  /// up by liftoff; its layers are not part of a request.
  var requestJSON: JSON {
    var m: [(String, JSON?)] = []
    m.append(("destination", .string(destination)))
    m.append(("type", type == "bind" ? nil : .string(type)))
    m.append(("source", .string(source)))
    m.append(("readOnly", .flag(readOnly)))
    m.append(("recursiveReadOnly", .flag(recursiveReadOnly)))
    m.append(("propagation", propagation == .rprivate ? nil : .string(propagation.rawValue)))
    m.append(("data", .str(data)))
    m.append(("flags", .list(flags)))
    m.append(("uidMappings", uidMappings.isEmpty ? nil : .array(uidMappings.map(\.json))))
    m.append(("gidMappings", gidMappings.isEmpty ? nil : .array(gidMappings.map(\.json))))
    m.append(("image", image.map { .obj([("id", .string($0.id)), ("name", .string($0.name))]) }))
    m.append(("subPath", .str(subPath)))
    return .obj(m)
  }

  init(request r: inout JSONObjectReader) throws(LiftoffError) {
    self.init(destination: try r.string("destination"), type: try r.string("type", default: "bind"), source: try r.string("source", default: ""))
    readOnly = try r.bool("readOnly", default: false)
    recursiveReadOnly = try r.bool("recursiveReadOnly", default: false)
    if let p = try r.optString("propagation") {
      guard let v = Propagation(rawValue: p) else { throw .invalidArgument("\(r.at("propagation")): unknown \(p)") }
      propagation = v
    }
    data = try r.optString("data")
    flags = try r.strings("flags")
    for f in flags where !Self.knownFlags.contains(f) { throw .invalidArgument("\(r.at("flags")): unknown flag \(f)") }
    for key in ["uidMappings", "gidMappings"] {
      let list = try r.objects(key) { m throws(LiftoffError) in
        IDMapping(containerID: try m.uint32("containerID"), hostID: try m.uint32("hostID"), size: try m.uint32("size"))
      }
      if key == "uidMappings" { uidMappings = list } else { gidMappings = list }
    }
    if var i = try r.optObject("image") {
      let id = try i.string("id")
      image = AppImage(name: try i.string("name", default: id), id: id, layerDirs: [])
      try i.finish()
    }
    subPath = try r.optString("subPath")
    try validateIDMapping(in: "mount \(destination)")
  }
}

extension AppResources {
  /// The keys of `json`.
  public static let jsonKeys: Set<String> = [
    "memoryBytes", "cpuMillis", "pidsMax", "cpuShares", "cpuPeriodUs", "cpuQuotaUs", "memorySwapBytes", "cpusetCpus", "cpusetMems",
    "hugepageLimits", "unified",
  ]
}

extension PodNetworkRequest.PortMapping {
  var json: JSON {
    .obj([
      ("hostIP", hostIP.isEmpty ? nil : .string(hostIP)), ("hostPort", .int(hostPort)), ("containerPort", .int(containerPort)),
      ("protocol", .string(proto)),
    ])
  }

  init(_ r: inout JSONObjectReader) throws(LiftoffError) {
    guard let host = try r.optInt("hostPort") else { throw .invalidArgument("\(r.at("hostPort")): missing") }
    guard let container = try r.optInt("containerPort") else { throw .invalidArgument("\(r.at("containerPort")): missing") }
    self.init(
      hostPort: host, containerPort: container, proto: try r.string("protocol", default: "tcp"),
      hostIP: try r.string("hostIP", default: ""))
  }
}
