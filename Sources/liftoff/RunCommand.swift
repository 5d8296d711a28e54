import ArgumentParser
import Foundation
import LiftoffCore
import LiftoffNet
import LiftoffOS
import LiftoffPod

/// The pod-level settings as `run`, `prepare` and `app sandbox` take them, whoever parsed them:
/// PodArguments (ArgumentParser) or PodFlags (plain values: `app sandbox`'s request).
protocol PodFlagValues {
  var net: String { get }
  var port: [String] { get }
  var portMapping: [String] { get }
  var dns: [String] { get }
  var dnsSearch: [String] { get }
  var dnsOpt: [String] { get }
  var cniArg: [String] { get }
  var hostname: String? { get }
  var stage1: String { get }
  var interactive: Bool { get }
  var stopTimeout: Int { get }
  var annotation: [String] { get }
  var label: [String] { get }
  var usernsUidMap: [String] { get }
  var usernsGidMap: [String] { get }
  var apps: [String] { get }
}

struct PodFlags: PodFlagValues {
  var net = "none"
  var port: [String] = []
  var portMapping: [String] = []
  var dns: [String] = []
  var dnsSearch: [String] = []
  var dnsOpt: [String] = []
  var cniArg: [String] = []
  var hostname: String?
  var stage1 = "default"
  var interactive = false
  var stopTimeout = 10
  var annotation: [String] = []
  var label: [String] = []
  var usernsUidMap: [String] = []
  var usernsGidMap: [String] = []
  var apps: [String] = []
}

/// Pod-level flags shared by `run` and `prepare`.
struct PodArguments: ParsableArguments, PodFlagValues {
  /// The pod from `--spec-file` (a PodRequest) when given, else from these flags; both at once is refused.
  func podOptions(specFile: String?, global: Globals) throws -> PodOptions {
    guard let specFile else { return try podOptions(global: global) }
    let given = [
      ("--net", net != "none"), ("--port", !port.isEmpty), ("--port-mapping", !portMapping.isEmpty), ("--dns", !dns.isEmpty),
      ("--dns-search", !dnsSearch.isEmpty), ("--dns-opt", !dnsOpt.isEmpty), ("--cni-arg", !cniArg.isEmpty),
      ("--hostname", hostname != nil), ("--stage1", stage1 != "default"), ("--interactive", interactive),
      ("--stop-timeout", stopTimeout != 10), ("--annotation", !annotation.isEmpty), ("--label", !label.isEmpty),
      ("--userns-uid-map", !usernsUidMap.isEmpty), ("--userns-gid-map", !usernsGidMap.isEmpty), ("an image", !apps.isEmpty),
    ]
    if let (flag, _) = given.first(where: { $0.1 }) {
      throw LiftoffError.invalidArgument("--spec-file \(specFile) holds the whole pod: \(flag) cannot be given too")
    }
    let request: PodRequest
    do {
      let bytes = try FileSystem.readBytes(specFile == "-" ? "/dev/stdin" : specFile)
      request = try PodRequest(json: try JSON.parse(bytes: bytes))
    } catch {
      throw LiftoffError.invalidArgument("--spec-file \(specFile): \(error)")
    }
    var options = try AppSandboxCommand.podOptions(global, request.pod)
    options.apps = try request.apps.map { try $0.resolvingImages(global.imageResolver) }
    return options
  }

  @Option(help: "Network: default (the CNI conf dir's network, else the embedded default), host, none, or NAME[:K=V;…] (a CNI network by name, with CNI_ARGS).")
  var net: String = "none"
  @Option(help: "Port mapping NAME:HOSTPORT (NAME an image port like 80-tcp) or HOSTPORT:CONTAINERPORT[/PROTO] (repeatable).")
  var port: [String] = []
  @Option(help: "Port mapping HOSTIP:HOSTPORT:CONTAINERPORT[/PROTO] (repeatable; HOSTIP may be empty).")
  var portMapping: [String] = []
  @Option(help: "DNS server for the pod's resolv.conf (repeatable; default: the host's).")
  var dns: [String] = []
  @Option(help: "DNS search domain (repeatable).")
  var dnsSearch: [String] = []
  @Option(help: "resolv.conf option (repeatable).")
  var dnsOpt: [String] = []
  @Option(help: "CNI_ARGS KEY=VALUE (repeatable); K8S_POD_NAMESPACE, K8S_POD_NAME and K8S_POD_UID name the pod.")
  var cniArg: [String] = []
  @Option(help: "The pod's hostname (default liftoff-<id prefix>).")
  var hostname: String?
  @Option(help: "stage1 flavor: default or fly.")
  var stage1: String = "default"
  @Flag(help: "Give the app this terminal's stdin (one app only).")
  var interactive = false
  @Option(help: "Seconds between the stop signal and SIGKILL when the pod is stopped.")
  var stopTimeout: Int = 10
  @Option(help: "Pod annotation KEY=VALUE (repeatable).")
  var annotation: [String] = []
  @Option(help: "Pod label KEY=VALUE (repeatable).")
  var label: [String] = []
  @Option(help: "User namespace for the pod's apps: CONTAINER:HOST:LENGTH (repeatable, at most 340; needs --userns-gid-map too).")
  var usernsUidMap: [String] = []
  @Option(help: "GID mapping of the pod's user namespace: CONTAINER:HOST:LENGTH (repeatable, at most 340).")
  var usernsGidMap: [String] = []

  @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("IMAGE [app flags] [-- ARGS] [--- IMAGE …]", discussion: AppArguments.help))
  var apps: [String] = []
}

extension PodFlagValues {
  func podOptions(allowNoApps: Bool = false, global: Globals? = nil) throws -> PodOptions {
    var p = PodOptions()
    guard let flavor = PodManifest.Flavor(rawValue: stage1) else {
      throw LiftoffError.invalidArgument("--stage1 \(stage1): expected default or fly")
    }
    p.flavor = flavor
    switch net {
    case "host": p.network = .host
    case "none": p.network = .none
    default: p.network = .netns
    }
    if p.network != .netns {
      var cniFlags = [("--port", port), ("--port-mapping", portMapping), ("--cni-arg", cniArg)]
      // A host-network pod gets a resolv.conf of its own too: from these, else the host's.
      if p.network != .host { cniFlags += [("--dns", dns), ("--dns-search", dnsSearch), ("--dns-opt", dnsOpt)] }
      if let (flag, _) = cniFlags.first(where: { !$0.1.isEmpty }) {
        throw LiftoffError.invalidArgument("\(flag) needs a cni network (--net=default or --net=NAME), not --net=\(net)")
      }
      if p.network == .host && !(dns.isEmpty && dnsSearch.isEmpty && dnsOpt.isEmpty) {
        let config = DNSConfig(servers: dns, searches: dnsSearch, options: dnsOpt)
        try PodFiles.validate(config)  // before a pod exists
        p.hostNetworkDNS = config
      }
    }
    if flavor == .fly && net == "none" && !CommandLine.arguments.contains(where: { $0.hasPrefix("--net") }) {
      p.network = .host
    }
    p.hostname = hostname
    p.stopTimeoutSeconds = stopTimeout
    p.userNamespace = try Self.userNamespace(usernsUidMap, usernsGidMap, flavor: flavor)
    p.annotations = try Self.keyValues(annotation, "annotation")
    p.labels = try Self.keyValues(label, "label")
    if !(allowNoApps && apps.isEmpty) {
      let resolver = global?.imageResolver ?? RootfsDirectoryResolver()
      p.apps = try AppArguments.parse(apps, resolver: resolver, interactive: interactive)
    }
    if p.network == .netns { p.networkPlan = try networkPlan(apps: p.apps, global: global) }
    if interactive && p.apps.count > 1 { throw LiftoffError.invalidArgument("--interactive needs a pod of one app") }
    return p
  }

  /// `--annotation`/`--label` values `KEY=VALUE` as a map.
  static func keyValues(_ list: [String], _ what: String) throws -> [String: String] {
    var out: [String: String] = [:]
    for s in list {
      let f = s.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      guard f.count == 2, !f[0].isEmpty else { throw LiftoffError.invalidArgument("--\(what) \(s): expected KEY=VALUE") }
      out[f[0]] = f[1]
    }
    return out
  }

  /// `--userns-uid-map`/`--userns-gid-map C:H:L` values; nil when neither is given.
  static func userNamespace(_ uidMap: [String], _ gidMap: [String], flavor: PodManifest.Flavor) throws -> UserNamespaceMappings? {
    guard !uidMap.isEmpty || !gidMap.isEmpty else { return nil }
    var uids: [IDMapping] = []
    var gids: [IDMapping] = []
    for s in uidMap { uids.append(try IDMapping.parse(s, flag: "--userns-uid-map")) }
    for s in gidMap { gids.append(try IDMapping.parse(s, flag: "--userns-gid-map")) }
    guard !uids.isEmpty else { throw LiftoffError.invalidArgument("--userns-gid-map needs --userns-uid-map too") }
    guard !gids.isEmpty else { throw LiftoffError.invalidArgument("--userns-uid-map needs --userns-gid-map too") }
    let u = UserNamespaceMappings(uids: uids, gids: gids)
    try check(u, flavor: flavor, flags: ("--userns-uid-map", "--userns-gid-map"))
    return u
  }

  /// A pod user namespace's mappings are valid and its flavor can have one.
  static func check(_ u: UserNamespaceMappings, flavor: PodManifest.Flavor, flags: (String, String)) throws {
    guard flavor == .default else {
      throw LiftoffError.invalidArgument("\(flags.0)/\(flags.1): stage1 fly runs in the host's user namespace")
    }
    try IDMapping.validate(u.uids, field: flags.0)
    try IDMapping.validate(u.gids, field: flags.1)
  }

  /// The CNI request of `--net=default|NAME[:ARGS]` and the other network flags.
  func networkPlan(apps: [AppOptions], global: Globals?) throws -> PodNetworkPlan {
    var plan = PodNetworkPlan()
    if let global {
      plan.confDir = global.cniConfDir
      plan.binDirs = global.cniBinDirs
      plan.defaultNetwork = global.cniDefaultNetwork
    }
    let (name, netArgs) = try Self.splitNet(net)
    guard !name.isEmpty else { throw LiftoffError.invalidArgument("--net=\(net): expected default, host, none or NAME[:ARGS]") }
    if name != "default" {
      guard name.allSatisfy({ $0.isLetter || $0.isNumber || "_.-".contains($0) }) else {
        throw LiftoffError.invalidArgument("--net=\(net): network name \"\(name)\" may contain only letters, digits, '_', '.' and '-'")
      }
      plan.network = name
    }
    for (k, v) in netArgs { try Self.addCNIArg(k, v, to: &plan, field: "--net=\(net)") }
    for a in cniArg {
      let kv = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      guard kv.count == 2, !kv[0].isEmpty else { throw LiftoffError.invalidArgument("--cni-arg \(a): expected KEY=VALUE") }
      try Self.addCNIArg(kv[0], kv[1], to: &plan, field: "--cni-arg \(a)")
    }
    for p in port { plan.portMappings.append(try Self.parsePort(p, apps: apps)) }
    for p in portMapping { plan.portMappings.append(try Self.parsePortMapping(p)) }
    if !(dns.isEmpty && dnsSearch.isEmpty && dnsOpt.isEmpty) {
      plan.dns = DNSConfig(servers: dns, searches: dnsSearch, options: dnsOpt)
    }
    return plan
  }

  /// `--net NAME[:K=V;…]` as the network's name and its CNI_ARGS pairs, in order.
  static func splitNet(_ net: String) throws -> (name: String, args: [(String, String)]) {
    let parts = net.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    var args: [(String, String)] = []
    for a in (parts.count > 1 ? parts[1].split(separator: ";").map(String.init) : []) where !a.isEmpty {
      let kv = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      guard kv.count == 2, !kv[0].isEmpty else { throw LiftoffError.invalidArgument("--net=\(net): cni arg \"\(a)\" must be KEY=VALUE") }
      args.append((kv[0], kv[1]))
    }
    return (parts[0], args)
  }

  /// One CNI_ARGS pair: the pod's identity into its own fields, the rest as extra args.
  static func addCNIArg(_ key: String, _ value: String, to plan: inout PodNetworkPlan, field: String) throws {
    switch key {
    case "K8S_POD_NAMESPACE": plan.podNamespace = value
    case "K8S_POD_NAME": plan.podName = value
    case "K8S_POD_UID": plan.podUID = value
    case "IgnoreUnknown", "K8S_POD_INFRA_CONTAINER_ID":
      throw LiftoffError.invalidArgument("\(field): liftoff sets \(key) itself")
    default: plan.extraArgs.append("\(key)=\(value)")
    }
  }

  /// `CONTAINERPORT[/PROTO]`
  static func parseContainerPort(_ s: String, flag: String) throws -> (Int, String) {
    let f = s.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
    guard let port = Int(f[0]), (1...65535).contains(port) else {
      throw LiftoffError.invalidArgument("\(flag): container port \"\(f[0])\" must be a number between 1 and 65535")
    }
    let proto = f.count > 1 ? f[1].lowercased() : "tcp"
    guard ["tcp", "udp", "sctp"].contains(proto) else {
      throw LiftoffError.invalidArgument("\(flag): protocol \"\(proto)\" must be tcp, udp or sctp")
    }
    return (port, proto)
  }

  static func parseHostPort(_ s: String, flag: String) throws -> Int {
    guard let port = Int(s), (1...65535).contains(port) else {
      throw LiftoffError.invalidArgument("\(flag): host port \"\(s)\" must be a number between 1 and 65535")
    }
    return port
  }

  /// `NAME:HOSTPORT` (rkt; NAME is an image's exposed port `80/tcp` spelled `80-tcp`) or
  /// `HOSTPORT:CONTAINERPORT[/PROTO]`.
  static func parsePort(_ s: String, apps: [AppOptions]) throws -> PodNetworkRequest.PortMapping {
    let flag = "--port \(s)"
    let f = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard f.count == 2 else { throw LiftoffError.invalidArgument("\(flag): expected NAME:HOSTPORT or HOSTPORT:CONTAINERPORT[/PROTO]") }
    if Int(f[0]) != nil {
      let host = try parseHostPort(f[0], flag: flag)
      let (ctr, proto) = try parseContainerPort(f[1], flag: flag)
      return .init(hostPort: host, containerPort: ctr, proto: proto)
    }
    let host = try parseHostPort(f[1], flag: flag)
    var exposed: [String] = []
    for app in apps { exposed += (app.image.config.config?.exposedPorts ?? [:]).keys }
    guard let key = exposed.sorted().first(where: { $0 == f[0] || $0.replacingOccurrences(of: "/", with: "-") == f[0] }) else {
      let known = exposed.sorted().map { $0.replacingOccurrences(of: "/", with: "-") }
      throw LiftoffError.invalidArgument(
        "\(flag): no app image exposes a port named \(f[0])" + (known.isEmpty ? "" : " (exposed: \(known.joined(separator: ", ")))"))
    }
    let (ctr, proto) = try parseContainerPort(key, flag: flag)
    return .init(hostPort: host, containerPort: ctr, proto: proto)
  }

  /// `HOSTIP:HOSTPORT:CONTAINERPORT[/PROTO]` (CRI's PortMapping); HOSTIP may be empty or an IPv6 address.
  static func parsePortMapping(_ s: String) throws -> PodNetworkRequest.PortMapping {
    let flag = "--port-mapping \(s)"
    var f = s.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard f.count >= 3 else { throw LiftoffError.invalidArgument("\(flag): expected HOSTIP:HOSTPORT:CONTAINERPORT[/PROTO]") }
    let ctrPart = f.removeLast()
    let hostPart = f.removeLast()
    var hostIP = f.joined(separator: ":")
    if hostIP.hasPrefix("[") && hostIP.hasSuffix("]") { hostIP = String(hostIP.dropFirst().dropLast()) }
    let host = try parseHostPort(hostPart, flag: flag)
    let (ctr, proto) = try parseContainerPort(ctrPart, flag: flag)
    let mapping = PodNetworkRequest.PortMapping(hostPort: host, containerPort: ctr, proto: proto, hostIP: hostIP)
    try mapping.check(flag)
    return mapping
  }
}

struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run", abstract: "Prepare a pod and run it in the foreground; exits with the app's status.")
  @OptionGroup var global: GlobalOptions
  @Option(help: "Write the pod's UUID to FILE (atomically) before it starts, for `stop|rm|status --uuid-file`.")
  var uuidFileSave: String?
  @Option(help: "When to fetch an image: new (only one not in the store), update (every time) or never.")
  var pullPolicy: PullPolicy = .new
  @Option(help: "Read the pod (its settings and apps) as JSON from FILE, or stdin with -, instead of flags (LiftoffPod/Stage0Request.swift: PodRequest).")
  var specFile: String?
  @OptionGroup var pod: PodArguments

  func run() throws {
    let store = try PodStore(root: global.dir)
    let sockets = try SocketActivation.inherited()
    var options = try pod.podOptions(specFile: specFile, global: global.fetching(pullPolicy))
    // A Type=notify unit: stage1 (which this process becomes) relays the apps' notifications.
    if let notify = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !notify.isEmpty {
      options.notifySocket = notify
      unsetenv("NOTIFY_SOCKET")
    }
    if let sockets {
      guard options.apps.count == 1 else {
        throw LiftoffError.invalidArgument("socket activation (LISTEN_FDS=\(sockets.count)) needs a pod of one app, not \(options.apps.count)")
      }
      options.apps[0].listenFDs = sockets.count
      options.apps[0].listenFDNames = sockets.names
    }
    _ = try PodManager.stage1Path()
    let (manifest, lock) = try PodPreparer(store: store).prepare(options, into: .run)
    if let uuidFileSave {
      do { try UUIDFile.save(manifest.id, to: uuidFileSave) } catch {
        // The pod was never started: leave nothing behind.
        lock.unlock()
        try? PodManager(store: store).remove(manifest.id)
        throw error
      }
    }
    // Only now may the sockets cross the exec into stage1 (a fetch before ran without them).
    sockets?.inheritable(true)
    try PodManager(store: store).execRun(manifest, lock: lock)
  }
}

/// rkt's `--uuid-file-save` / `--uuid-file`: a pod's UUID in a file, so that a systemd unit's
/// ExecStop and ExecStopPost (or any script) can name the pod that its ExecStart ran.
enum UUIDFile {
  static func save(_ id: String, to path: String) throws {
    do { try FileSystem.writeAtomically(path, id + "\n", mode: 0o644) } catch {
      throw LiftoffError.invalidArgument("--uuid-file-save \(path): \(error)")
    }
  }

  static func read(_ path: String) throws -> String {
    let text: String
    do { text = try FileSystem.readString(path) } catch {
      throw LiftoffError.invalidArgument("--uuid-file \(path): \(error)")
    }
    let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard !id.isEmpty, !id.contains(where: \.isWhitespace) else {
      throw LiftoffError.invalidArgument("--uuid-file \(path): expected one pod UUID, found \(id.isEmpty ? "nothing" : "\"\(id.prefix(80))\"")")
    }
    return id
  }

  /// The pod IDs of a command: the arguments, or the one in `--uuid-file` — not both.
  static func ids(_ ids: [String], uuidFile: String?) throws -> [String] {
    switch (ids.isEmpty, uuidFile) {
    case (true, nil): throw ValidationError("give a pod UUID or --uuid-file FILE")
    case (false, _?): throw ValidationError("give pod UUIDs or --uuid-file FILE, not both")
    case (_, let file?): return [try read(file)]
    case (false, nil): return ids
    }
  }
}

struct PrepareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "prepare", abstract: "Prepare a pod and print its ID; run it with run-prepared.")
  @OptionGroup var global: GlobalOptions
  @Option(help: "Write the pod's UUID to FILE (atomically) too.")
  var uuidFileSave: String?
  @Option(help: "When to fetch an image: new (only one not in the store), update (every time) or never.")
  var pullPolicy: PullPolicy = .new
  @Option(help: "Read the pod (its settings and apps) as JSON from FILE, or stdin with -, instead of flags (LiftoffPod/Stage0Request.swift: PodRequest).")
  var specFile: String?
  @OptionGroup var pod: PodArguments

  func run() throws {
    let store = try PodStore(root: global.dir)
    let (manifest, _) = try PodPreparer(store: store).prepare(try pod.podOptions(specFile: specFile, global: global.fetching(pullPolicy)))
    if let uuidFileSave {
      do { try UUIDFile.save(manifest.id, to: uuidFileSave) } catch {
        try? PodManager(store: store).remove(manifest.id)
        throw error
      }
    }
    print(manifest.id)
  }
}

struct RunPreparedCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "run-prepared", abstract: "Run a prepared pod in the foreground.")
  @OptionGroup var global: GlobalOptions
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws {
    let store = try PodStore(root: global.dir)
    let (full, place) = try store.resolve(id)
    guard place == .prepared else {
      throw LiftoffError(.failedPrecondition, "pod \(full) is \(place.rawValue), not prepared")
    }
    try PodManager(store: store).execPrepared(full)
  }
}
