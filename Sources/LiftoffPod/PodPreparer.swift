// `liftoff prepare`: a new pod from PodOptions, through embryo → prepare → prepared (or straight
// to run/ for `run` and `app sandbox`), with its manifest, app directories and compiled seccomp
// programs. A failure moves the pod to garbage.
import Foundation
import LiftoffCore
import LiftoffNet
import LiftoffOS

public struct PodPreparer {
  public let store: PodStore

  public init(store: PodStore) { self.store = store }

  /// Prepares a pod and returns its ID with the pod's lock still held (so `run` can go on to
  /// run it without a window in which another command could take it). `into` is `.prepared`
  /// for `liftoff prepare` and `.run` for a pod about to run: then a creator killed at any
  /// instant leaves a pod either in prepare/ or in run/, both of which gc collects, never a
  /// prepared pod nobody asked for.
  public func prepare(_ options: PodOptions, into target: PodStore.Place = .prepared) throws(LiftoffError) -> (manifest: PodManifest, lock: FileLock) {
    guard target == .prepared || target == .run else { throw .init(.internal, "a pod is prepared into prepared/ or run/") }
    guard !options.apps.isEmpty || options.mutable else { throw .invalidArgument("a pod needs at least one app") }
    let (id, lock) = try store.createEmbryo()
    try store.move(id, from: .embryo, to: .prepare)
    FailPoint.hit(.podDirCreated)
    do {
      let manifest = try buildManifest(id: id, options)
      let dir = store.path(.prepare, id)
      for app in manifest.apps { try makeAppDirectory(app, flavor: manifest.flavor, podDir: dir) }
      try FileSystem.makeDirectories("\(dir)/stage1")
      if manifest.network.mode == .netns {
        guard let plan = options.networkPlan else { throw LiftoffError.invalidArgument("a cni network needs its settings") }
        try plan.write(podDir: dir)
      } else if manifest.network.mode == .host {
        // A host-network pod's resolv.conf, where stage1 finds a CNI pod's files (as containerd
        // writes one for every sandbox: kubelet's dnsPolicy ClusterFirstWithHostNet relies on it).
        try PodFiles.writeHostNetwork(to: PodNetworkPlan.filesDir(podDir: dir), dns: options.hostNetworkDNS)
      }
      try FileSystem.writeAtomically("\(dir)/pod.json", manifest.json.serialized(pretty: true) + "\n")
      FailPoint.hit(.podManifestWritten)
      try store.move(id, from: .prepare, to: target)
      return (manifest, lock)
    } catch {
      try? store.move(id, from: .prepare, to: .garbage)
      if let e = error as? LiftoffError { throw e }
      throw LiftoffError(.internal, "preparing pod \(id)", cause: error)
    }
  }

  /// apps/<name>/: rootfs dirs, compiled seccomp program, state `created`. `durable: false` (an app
  /// added to a running pod) writes the state and the seccomp program without their fsyncs (the
  /// state's were ~0.35 ms of each CreateContainer here): a machine crash ends the pod, and an app that
  /// never started is moot then; a state.json lost or torn by one reads as no state
  /// (PodStore.readAppState). A killed process leaves the old file or the new one either way (rename).
  func makeAppDirectory(_ app: AppManifest, flavor: PodManifest.Flavor, podDir dir: String, durable: Bool = true) throws {
    let appDir = "\(dir)/apps/\(app.name)"
    try FileSystem.makeDirectories("\(appDir)/rootfs/upper")
    try FileSystem.makeDirectories("\(appDir)/rootfs/work")
    try FileSystem.makeDirectories("\(appDir)/rootfs/merged")
    if flavor == .default && app.seccomp != "unconfined" {
      try compileSeccomp(app, to: "\(appDir)/seccomp.bpf", durable: durable)
    }
    try FileSystem.writeAtomically("\(appDir)/state.json", AppState.created.json.serialized() + "\n", durable: durable)
  }

  func compileSeccomp(_ app: AppManifest, to path: String, durable: Bool = true) throws {
    let tmp = "\(path).tmp"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: tmp) }
    do {
      if let profile = AppManifest.localhostSeccompPath(app.seccomp) {
        try Seccomp.compileProfile(path: profile, capabilities: app.capabilities, to: fd)
      } else {
        try Seccomp.compileRuntimeDefault(capabilities: app.capabilities, to: fd)
      }
      if durable { fsync(fd) }
      close(fd)
    } catch {
      close(fd)
      throw error
    }
    guard rename(tmp, path) == 0 else { throw SystemCallError("rename", errno: errno, path: path) }
  }

  public func buildManifest(id: String, _ options: PodOptions) throws(LiftoffError) -> PodManifest {
    var names = Set<String>()
    var apps: [AppManifest] = []
    for o in options.apps {
      var name = o.name ?? Self.defaultAppName(o.imageName)
      guard Self.isValidName(name) else {
        throw .invalidArgument("invalid app name \(name): use lowercase letters, digits and '-', at most 64")
      }
      if o.name == nil {
        var n = 2
        let base = name
        while names.contains(name) { name = "\(base)-\(n)"; n += 1 }
      } else if names.contains(name) {
        throw .invalidArgument("app name \(name) is used twice in the pod")
      }
      names.insert(name)
      apps.append(try buildApp(name: name, o, flavor: options.flavor, network: options.network, sharedPID: options.sharedPID))
    }
    for app in apps { try Self.checkPIDTarget(app, among: apps) }
    let hostname = options.hostname ?? "liftoff-\(id.prefix(12))"
    guard Self.isValidHostname(hostname) else { throw .invalidArgument("invalid hostname \(hostname)") }
    let network: PodNetwork
    switch options.network {
    case .host: network = PodNetwork(mode: .host)
    case .none, .netns:
      guard options.flavor == .default else {
        throw .invalidArgument("stage1 fly runs in the host's namespaces: use --net=host")
      }
      network = PodNetwork(mode: options.network, netnsPath: PodStore.netnsPath(id))
    }
    // fly pods are in the host's IPC namespace whatever is asked: asking for it (CRI IPC NODE) is fine.
    var manifest = PodManifest(
      id: id, createdAt: Clock.nowRFC3339(), flavor: options.flavor, hostname: hostname, network: network,
      mutable: options.mutable, stopTimeoutSeconds: options.stopTimeoutSeconds, annotations: options.annotations,
      labels: options.labels, apps: apps)
    manifest.hostIPC = options.hostIPC
    manifest.sharedPID = options.sharedPID
    if let socket = options.notifySocket {
      guard socket.hasPrefix("/") || socket.hasPrefix("@"), !socket.contains("\n") else {
        throw .invalidArgument("NOTIFY_SOCKET=\(socket): not a socket path or an abstract name (@…)")
      }
      manifest.notifySocket = socket
    }
    if let u = options.userNamespace {
      guard options.flavor == .default else {
        throw .invalidArgument("--userns-uid-map/--userns-gid-map: stage1 fly runs in the host's user namespace")
      }
      guard !u.uids.isEmpty, !u.gids.isEmpty else {
        throw .invalidArgument("--userns-uid-map and --userns-gid-map: a user namespace needs both uid and gid mappings")
      }
      try IDMapping.validate(u.uids, field: "--userns-uid-map")
      try IDMapping.validate(u.gids, field: "--userns-gid-map")
      try Self.checkImageVolumes(apps, userNamespace: true)
      manifest.userNamespace = u
    }
    if options.systemdCgroups {
      guard Cgroups.systemdIsRunning else {
        throw .init(.failedPrecondition, "cgroup driver systemd: systemd is not PID 1 on this host (no /run/systemd/system)")
      }
      let slice = options.cgroupParent ?? Self.defaultSlice
      guard let path = Cgroups.expandSlice(slice), !path.isEmpty else {
        throw .invalidArgument("cgroup parent \(slice) is not a systemd slice name (the cgroup driver is systemd)")
      }
      manifest.systemdSlice = slice
      manifest.cgroupParent = path
    } else if let p = options.cgroupParent {
      guard let rel = Cgroups.parentPath(p) else { throw .invalidArgument("cgroup parent \(p) is not a path of names") }
      manifest.cgroupParent = rel
    }
    if options.sharedPID && options.flavor != .default {
      throw .invalidArgument("stage1 fly pods have no PID namespace of their own")
    }
    return manifest
  }

  func buildApp(
    name: String, _ o: AppOptions, flavor: PodManifest.Flavor, network: PodNetwork.Mode, sharedPID: Bool = false
  ) throws(LiftoffError) -> AppManifest {
    let cfg = o.image.config.config ?? ImageRuntimeConfig()
    guard !o.image.layerDirs.isEmpty else { throw .invalidArgument("image \(o.imageName) has no layers") }
    for d in o.image.layerDirs where !FileSystem.isDirectory(d) {
      throw .notFound("image \(o.imageName): layer directory \(d) is missing")
    }
    // argv: --exec replaces the entrypoint (and drops the image's cmd); args replace cmd.
    var argv: [String]
    if let exec = o.exec {
      argv = [exec] + (o.args ?? [])
    } else {
      argv = (cfg.entrypoint ?? []) + (o.args ?? cfg.cmd ?? [])
    }
    guard let first = argv.first, !first.isEmpty else {
      throw .invalidArgument("app \(name): the image \(o.imageName) has no entrypoint or cmd; give --exec")
    }
    // Environment: image env, then --set-env; PATH always present.
    var env: [(String, String)] = []
    func set(_ kv: String) throws(LiftoffError) {
      guard let eq = kv.firstIndex(of: "="), eq != kv.startIndex else {
        throw .invalidArgument("app \(name): environment entry \(kv) is not KEY=value")
      }
      let k = String(kv[..<eq]), v = String(kv[kv.index(after: eq)...])
      if let i = env.firstIndex(where: { $0.0 == k }) { env[i].1 = v } else { env.append((k, v)) }
    }
    for kv in cfg.env ?? [] { try set(kv) }
    for kv in o.env { try set(kv) }
    if !env.contains(where: { $0.0 == "PATH" }) { env.insert(("PATH", ProcessControl.defaultPath), at: 0) }
    // Users and groups from the image's own files.
    let db = UserDatabase(
      passwd: Self.readFromLayers(o.image.layerDirs, "etc/passwd") ?? "",
      group: Self.readFromLayers(o.image.layerDirs, "etc/group") ?? "")
    var user = try db.resolve(user: o.user ?? cfg.user, group: o.group)
    // Supplementary groups: Merge adds the requested ones to the image's; Strict keeps only the
    // primary group and the requested ones (CRI SupplementalGroupsPolicy).
    if o.supplementaryGroupsStrict { user.additionalGids = [user.gid] }
    for g in o.supplementaryGroups where !user.additionalGids.contains(g) { user.additionalGids.append(g) }
    if !env.contains(where: { $0.0 == "HOME" }) {
      let home = db.users.first { $0.uid == user.uid }?.home ?? "/"
      env.append(("HOME", home.isEmpty ? "/" : home))
    }
    // Capabilities.
    var caps: [String]
    if let retain = o.capsRetain {
      caps = []
      for c in retain {
        guard let n = Capabilities.normalize(c) else { throw .invalidArgument("unknown capability \(c)") }
        if !caps.contains(n) { caps.append(n) }
      }
    } else {
      caps = Capabilities.defaultSet
    }
    for c in o.capsRemove {
      guard let n = Capabilities.normalize(c) else { throw .invalidArgument("unknown capability \(c)") }
      caps.removeAll { $0 == n }
    }
    var ambient: [String] = []
    for c in o.capsAmbient {
      guard let n = Capabilities.normalize(c) else { throw .invalidArgument("unknown ambient capability \(c)") }
      if !ambient.contains(n) { ambient.append(n) }
      if !caps.contains(n) { caps.append(n) }
    }
    if !ambient.isEmpty && flavor == .fly {
      throw .invalidArgument("app \(name): stage1 fly apps keep the host's capabilities: --caps-ambient does not apply")
    }
    if let profile = AppManifest.localhostSeccompPath(o.seccomp) {
      guard profile.hasPrefix("/") else { throw .invalidArgument("seccomp profile \(profile) must be an absolute path") }
      guard FileSystem.exists(profile) else { throw .notFound("seccomp profile \(profile) does not exist") }
    } else {
      guard o.seccomp == "runtime/default" || o.seccomp == "unconfined" else {
        throw .invalidArgument("unknown seccomp profile \(o.seccomp): use runtime/default, unconfined or localhost=/path")
      }
    }
    var mounts: [AppMount] = []
    for var m in o.mounts {
      guard m.destination.hasPrefix("/"), !m.destination.split(separator: "/").contains("..") else {
        throw .invalidArgument("mount destination \(m.destination) must be absolute, without '..'")
      }
      if m.type == "bind" {
        guard m.source.hasPrefix("/") else { throw .invalidArgument("volume source \(m.source) must be an absolute path") }
        guard FileSystem.exists(m.source) else { throw .notFound("volume source \(m.source) does not exist") }
        // Symlinks resolved now, as containerd does: what is mounted is what was checked, and a
        // symlink changed afterwards cannot redirect the mount.
        do { m.source = try Mounts.canonical(m.source) } catch {
          throw .invalidArgument("volume source \(m.source): \(error)")
        }
        try Self.checkPropagation(m, app: name)
      }
      if m.type == "image" {
        guard flavor == .default else {
          throw .invalidArgument("app \(name): mount \(m.destination): stage1 fly does not mount image volumes")
        }
        if let problem = m.problem { throw .invalidArgument("app \(name): mount \(m.destination): \(problem)") }
        if let image = m.image, let sub = m.subPath {
          try LayerStack(layers: image.layerDirs).checkSubdirectory(sub, image: image.name)
        }
      }
      if m.isIDMapped && flavor == .fly {
        throw .invalidArgument("app \(name): mount \(m.destination): stage1 fly does not make idmapped mounts")
      }
      try m.validateIDMapping(in: "app \(name): mount \(m.destination)")
      mounts.append(m)
    }
    let workingDir = o.workingDir ?? (cfg.workingDir.flatMap { $0.isEmpty ? nil : $0 } ?? "/")
    guard workingDir.hasPrefix("/") else { throw .invalidArgument("working directory \(workingDir) must be absolute") }
    // /proc's magic links (/proc/self/fd/N, /proc/1/cwd) lead outside the container's root (runc
    // CVE-2024-21626): no working directory there, whether asked for or from the image's WorkingDir.
    if workingDir.split(separator: "/").first(where: { $0 != "." }) == "proc" {
      throw .invalidArgument("working directory \(workingDir) is under /proc")
    }
    try o.resources.validate(in: "app \(name)")
    try Cgroups.host().checkUnified(o.resources, "app \(name)")
    for c in ["hugetlb", "cpuset"] where !Cgroups.host().hasController(c) {
      let asked = c == "hugetlb" ? !o.resources.hugepageLimits.isEmpty : (o.resources.cpusetCpus ?? o.resources.cpusetMems) != nil
      if asked {
        throw .init(.failedPrecondition, "app \(name): the \(c) cgroup controller is not available on this host")
      }
    }
    if let p = o.logPath, !p.hasPrefix("/") { throw .invalidArgument("log path \(p) must be absolute") }
    let stopSignal = (o.stopSignal ?? cfg.stopSignal).flatMap { ProcessControl.signalNumber($0) }.map { Int($0) }
    let pidNamespace = o.pidNamespace ?? (sharedPID ? .pod : .container)
    switch (pidNamespace, sharedPID) {
    case (.pod, false): throw .invalidArgument("app \(name): --pid-namespace pod needs a pod made with app sandbox --pid-namespace pod")
    case (.host, true), (.container, true):
      // stage1's pid_for_children is the pod's namespace: clone(CLONE_NEWPID) is refused there.
      throw LiftoffError(
        pidNamespace == .host ? .invalidArgument : .unimplemented,
        "app \(name): --pid-namespace \(pidNamespace.rawValue) in a pod whose apps share one PID namespace is not supported")
    default: break
    }
    if pidNamespace == .target {
      guard flavor == .default else { throw .invalidArgument("app \(name): stage1 fly apps are in the host's PID namespace already") }
      guard let target = o.pidTarget, target != name else {
        throw .invalidArgument("app \(name): --pid-namespace target needs another app of the pod")
      }
    }
    var security = AppSecurity(privileged: o.privileged, pidNamespace: pidNamespace, pidTarget: pidNamespace == .target ? o.pidTarget : nil)
    for (k, v) in o.sysctls {
      if let refusal = AppSecurity.sysctlRefusal(k, podHasOwnNetwork: network != .host) {
        throw .invalidArgument("app \(name): \(refusal)")
      }
      security.sysctls[k] = v
    }
    for d in o.devices { security.devices.append(try Self.device(d, app: name)) }
    // A fly app is privileged by nature (host namespaces and devices, every capability): --privileged
    // says so and is accepted (the CRI accepts only privileged containers in fly sandboxes).
    if flavor == .fly && (!security.sysctls.isEmpty || !security.devices.isEmpty) {
      throw .invalidArgument("app \(name): stage1 fly shares the host's namespaces and devices: --sysctl and --device do not apply")
    }
    // fly apps are in the host's PID namespace whatever is asked: asking for it (CRI PID NODE) is fine.
    var seccomp = o.seccomp
    for p in (o.maskedPaths ?? []) + (o.readonlyPaths ?? []) where !p.hasPrefix("/") || p.split(separator: "/").contains("..") {
      throw .invalidArgument("app \(name): masked or read-only path \(p) must be absolute, without '..'")
    }
    var masked = o.maskedPaths ?? DefaultPaths.masked
    var readonly = o.readonlyPaths ?? DefaultPaths.readonly
    if o.privileged {
      caps = Array(Capabilities.names.prefix(Capabilities.lastCap() + 1))
      seccomp = "unconfined"
      masked = []
      readonly = []
    }
    var app = AppManifest(
      name: name, image: AppImage(name: o.imageName, id: o.image.id, layerDirs: o.image.layerDirs), exec: argv,
      env: env.map { "\($0.0)=\($0.1)" }, workingDir: workingDir, user: user, readOnlyRootfs: o.readOnlyRootfs,
      capabilities: caps, noNewPrivileges: o.noNewPrivileges, seccomp: seccomp, mounts: mounts, rlimits: o.rlimits,
      resources: o.resources, oomScoreAdj: o.oomScoreAdj, maskedPaths: masked,
      readonlyPaths: readonly, interactive: o.interactive, stopSignal: stopSignal, logPath: o.logPath,
      createdAt: Clock.nowRFC3339(), annotations: o.annotations, labels: o.labels,
      tty: o.tty, stdin: o.stdin, stdinOnce: o.stdinOnce)
    app.security = security
    app.ambientCapabilities = ambient
    app.listenFDs = o.listenFDs
    app.listenFDNames = o.listenFDNames
    for h in o.hooks {
      if let p = h.problem { throw .invalidArgument("app \(name): \(h.label): \(p)") }
    }
    app.hooks = o.hooks
    return app
  }

  /// `--device HOST[:CONTAINER[:PERMISSIONS]]`: the host node's type, numbers, mode and owner; or
  /// `--device path=CTR,type=c|b,major=N,minor=N,mode=OCTAL,uid=N,gid=N,access=[rwm]` (every key
  /// given; an empty access: the node is made, the device cgroup gives no access — CDI's `none`),
  /// a node described in full, as a CDI spec's deviceNodes are.
  /// `--device HOST[:CONTAINER[:rwm]]` or `--device path=…,type=…` as the request it stands for.
  public static func deviceRequest(_ spec: String, app: String) throws(LiftoffError) -> AppDeviceRequest {
    if spec.hasPrefix("path=") { return .described(try describedDevice(spec, app: app)) }
    let f = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard (1...3).contains(f.count) else {
      throw .invalidArgument("app \(app): --device \(spec): expected HOST[:CONTAINER[:rwm]] with absolute paths")
    }
    return .host(path: f[0], containerPath: f.count > 1 && !f[1].isEmpty ? f[1] : f[0], permissions: f.count > 2 ? f[2] : "rwm")
  }

  static func device(_ spec: String, app: String) throws(LiftoffError) -> AppDevice {
    try device(try deviceRequest(spec, app: app), app: app)
  }

  static func device(_ request: AppDeviceRequest, app: String) throws(LiftoffError) -> AppDevice {
    let (host, target, perms): (String, String, String)
    switch request {
    case .described(let d):
      let what = "app \(app): device \(d.path)"
      guard d.path.hasPrefix("/dev/"), !d.path.split(separator: "/").contains(".."), d.type == "c" || d.type == "b",
        d.permissions.allSatisfy({ "rwm".contains($0) })
      else {
        throw .invalidArgument("\(what): the path must be under /dev, the type c or b and access a subset of rwm")
      }
      guard d.fileMode <= 0o777 else { throw .invalidArgument("\(what): mode must be at most 0777") }
      return d
    case .host(let h, let t, let p): (host, target, perms) = (h, t, p)
    }
    guard host.hasPrefix("/"), target.hasPrefix("/dev/"), !target.split(separator: "/").contains(".."),
      !perms.isEmpty, perms.allSatisfy({ "rwm".contains($0) })
    else {
      throw .invalidArgument("app \(app): device \(host) at \(target) (\(perms)): the host path must be absolute, the container path under /dev and permissions a subset of rwm")
    }
    let st: stat
    do { st = try FileSystem.fileStat(host) } catch {
      throw LiftoffError(.notFound, "app \(app): device \(host) does not exist on the host", cause: error)
    }
    let kind = st.st_mode & S_IFMT
    guard kind == S_IFCHR || kind == S_IFBLK else {
      throw .invalidArgument("app \(app): \(host) is not a character or block device")
    }
    return AppDevice(
      path: target, type: kind == S_IFCHR ? "c" : "b", major: FileSystem.major(st.st_rdev),
      minor: FileSystem.minor(st.st_rdev), fileMode: UInt32(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid,
      permissions: perms)
  }

  /// `path=…,type=…,major=…,minor=…,mode=OCTAL,uid=…,gid=…,access=…`, checked by `device(_:app:)`.
  static func describedDevice(_ spec: String, app: String) throws(LiftoffError) -> AppDevice {
    let what = "app \(app): --device \(spec)"
    var kv: [String: String] = [:]
    for part in spec.split(separator: ",", omittingEmptySubsequences: false) {
      let p = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      guard p.count == 2, kv.updateValue(p[1], forKey: p[0]) == nil else { throw .invalidArgument("\(what): expected distinct KEY=VALUE items") }
    }
    let keys: Set<String> = ["path", "type", "major", "minor", "mode", "uid", "gid", "access"]
    guard Set(kv.keys) == keys, let path = kv["path"], let type = kv["type"], let access = kv["access"] else {
      throw .invalidArgument("\(what): expected exactly the keys \(keys.sorted().joined(separator: ","))")
    }
    func number(_ k: String, radix: Int = 10) throws(LiftoffError) -> UInt32 {
      guard let v = kv[k], let n = UInt32(v, radix: radix) else { throw .invalidArgument("\(what): \(k) is not a number") }
      return n
    }
    return AppDevice(
      path: path, type: type, major: try number("major"), minor: try number("minor"), fileMode: try number("mode", radix: 8),
      uid: try number("uid"), gid: try number("gid"), permissions: access)
  }

  /// A text file of the image (`etc/passwd`, …) as the container will see it, resolved inside the
  /// image's layers (LayerStack: never through a symlink to a host path).
  static func readFromLayers(_ layers: [String], _ relative: String) -> String? {
    LayerStack(layers: layers).readFile("/" + relative).map { String(decoding: $0, as: UTF8.self) }
  }

  /// Image volumes are mounted with the layers' own owners, which a pod's user namespace does not map:
  /// refused there until they are idmapped (containerd idmaps the snapshot).
  static func checkImageVolumes(_ apps: [AppManifest], userNamespace: Bool) throws(LiftoffError) {
    guard userNamespace else { return }
    for app in apps {
      if let v = app.mounts.first(where: { $0.type == "image" }) {
        throw .init(.unimplemented, "app \(app.name): mount \(v.destination): image volumes in a pod with a user namespace are not supported yet")
      }
    }
  }

  /// Propagation from the host needs the host's mount to propagate: shared for rshared
  /// (bidirectional), shared or slave for rslave (host to container), as containerd checks.
  static func checkPropagation(_ m: AppMount, app: String) throws(LiftoffError) {
    let needsShared = m.propagation == .shared || m.propagation == .rshared
    let needsReceive = m.propagation == .slave || m.propagation == .rslave
    guard needsShared || needsReceive else { return }
    let info: (mountPoint: String, shared: Bool, slave: Bool)?
    do { info = try Mounts.propagation(of: m.source) } catch {
      throw .init(.internal, "app \(app): volume \(m.destination): reading the mount table", cause: error)
    }
    guard let info else { return }
    if needsShared && !info.shared {
      throw .invalidArgument(
        "app \(app): volume \(m.destination): \(m.propagation.rawValue) propagation needs a shared host mount, but \(m.source) is on \(info.mountPoint), which is \(info.slave ? "a slave" : "private") (mount --make-shared \(info.mountPoint))")
    }
    if needsReceive && !info.shared && !info.slave {
      throw .invalidArgument(
        "app \(app): volume \(m.destination): \(m.propagation.rawValue) propagation needs a shared or slave host mount, but \(m.source) is on \(info.mountPoint), which is private")
    }
  }

  /// A `target` app's target must be another app of the same pod.
  static func checkPIDTarget(_ app: AppManifest, among apps: [AppManifest]) throws(LiftoffError) {
    guard let target = app.security.pidTarget else { return }
    guard apps.contains(where: { $0.name == target && $0.name != app.name }) else {
      throw .invalidArgument("app \(app.name): --pid-namespace target:\(target): the pod has no other app \(target)")
    }
  }

  static func defaultAppName(_ imageName: String) -> String {
    var s = imageName
    if let at = s.firstIndex(of: "@") { s = String(s[..<at]) }
    s = String(s.split(separator: "/").last ?? "app")
    if let colon = s.firstIndex(of: ":") { s = String(s[..<colon]) }
    var out = String(s.lowercased().map { ($0.isLetter && $0.isASCII) || $0.isNumber ? $0 : "-" })
    while out.hasPrefix("-") { out.removeFirst() }
    while out.hasSuffix("-") { out.removeLast() }
    if out.isEmpty { out = "app" }
    return String(out.prefix(63))
  }

  /// The slice of a pod's scope with the systemd driver when no cgroup parent is given (the
  /// cgroupfs driver's default group is `liftoff`).
  public static let defaultSlice = "liftoff.slice"

  public static func isValidName(_ s: String) -> Bool {
    !s.isEmpty && s.count <= 64 && s.first != "-" && s.last != "-"
      && s.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" }
  }

  static func isValidHostname(_ s: String) -> Bool {
    !s.isEmpty && s.utf8.count <= 64
      && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == ".") }
  }
}
