// `liftoff app …`: mutable pods, the commands the CRI service drives (rktlet's mapping of kubelet's
// pod lifecycle onto rkt's app commands).
import ArgumentParser
import Foundation
import LiftoffCLI
import LiftoffCore
import LiftoffNet
import LiftoffPod

struct AppCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "app", abstract: "Mutable pods: sandbox, add, start, stop, rm, list, status, stats, update.",
    subcommands: [
      AppSandboxCommand.self, AppAddCommand.self, AppStartCommand.self, AppStopCommand.self, AppRmCommand.self,
      AppListCommand.self, AppStatusCommand.self, AppReopenLogCommand.self, AppStatsCommand.self, AppUpdateCommand.self,
    ])
}

struct AppSandboxCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sandbox", abstract: "Start an empty mutable pod (stage1 detached); prints its ID once it is ready.")
  @OptionGroup var global: GlobalOptions
  @Option(help: "Network: default, host, none or NAME[:ARGS] (see liftoff run).") var net: String = PodFlags().net
  @Option(help: "Port mapping HOSTPORT:CONTAINERPORT[/PROTO] (repeatable).") var port: [String] = []
  @Option(help: "Port mapping HOSTIP:HOSTPORT:CONTAINERPORT[/PROTO] (repeatable).") var portMapping: [String] = []
  @Option(help: "DNS server (repeatable).") var dns: [String] = []
  @Option(help: "DNS search domain (repeatable).") var dnsSearch: [String] = []
  @Option(help: "resolv.conf option (repeatable).") var dnsOpt: [String] = []
  @Option(help: "CNI_ARGS KEY=VALUE (repeatable), e.g. K8S_POD_NAME=web.") var cniArg: [String] = []
  @Option(help: "The pod's hostname.") var hostname: String?
  @Option(help: "stage1 flavor: default or fly.") var stage1: String = PodFlags().stage1
  @Option(help: "Pod annotation KEY=VALUE (repeatable).") var annotation: [String] = []
  @Option(help: "Pod label KEY=VALUE (repeatable).") var label: [String] = []
  @Option(help: "Seconds between the stop signal and SIGKILL when the pod is stopped.") var stopTimeout: Int = PodFlags().stopTimeout
  @Option(help: "IPC namespace of the apps: pod (the pod's own) or host.") var ipcNamespace: String = SandboxRequest().ipcNamespace
  @Option(help: "The cgroup the pod's group goes under (e.g. /kubepods/burstable/pod<uid>); default: liftoff.")
  var cgroupParent: String?
  @Option(help: "cgroupfs (default), or systemd: the pod is the transient scope liftoff-<id>.scope in the slice --cgroup-parent names (default liftoff.slice); needs systemd as PID 1.")
  var cgroupDriver: String = "cgroupfs"
  @Option(help: "PID namespace of the apps: container (one per app) or pod (one shared by all; per app: app add --pid-namespace host).")
  var pidNamespace: String = SandboxRequest().pidNamespace
  @Option(help: "User namespace for the pod's apps: CONTAINER:HOST:LENGTH (repeatable, at most 340; needs --userns-gid-map too).")
  var usernsUidMap: [String] = []
  @Option(help: "GID mapping of the pod's user namespace: CONTAINER:HOST:LENGTH (repeatable, at most 340).")
  var usernsGidMap: [String] = []

  func run() throws {
    var r = SandboxRequest()
    // The flags' grammar ends here: `--net NAME:K=V;…`, `--cni-arg`, `--port` and `--port-mapping` as
    // the request's typed fields.
    let (name, netArgs) = try PodFlags.splitNet(net)
    r.net = name
    for (k, v) in netArgs { r.cniArgs[k] = v }
    for a in cniArg {
      let kv = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
      guard kv.count == 2, !kv[0].isEmpty else { throw LiftoffError.invalidArgument("--cni-arg \(a): expected KEY=VALUE") }
      r.cniArgs[kv[0]] = kv[1]
    }
    r.portMappings = try port.map { try PodFlags.parsePort($0, apps: []) } + portMapping.map { try PodFlags.parsePortMapping($0) }
    r.dns = dns
    r.dnsSearch = dnsSearch
    r.dnsOptions = dnsOpt
    r.hostname = hostname
    r.stage1 = stage1
    r.stopTimeoutSeconds = stopTimeout
    r.annotations = try PodFlags.keyValues(annotation, "annotation")
    r.labels = try PodFlags.keyValues(label, "label")
    r.userNamespace = try PodFlags.userNamespace(usernsUidMap, usernsGidMap, flavor: PodManifest.Flavor(rawValue: stage1) ?? .default)
    r.ipcNamespace = ipcNamespace
    r.pidNamespace = pidNamespace
    r.cgroupParent = cgroupParent
    r.cgroupDriver = cgroupDriver
    try Stage0Command.print(.sandbox(r), global.values)
  }

  /// Starts the pod; returns its ID once it is ready.
  static func sandbox(_ global: Globals, _ r: SandboxRequest) throws -> String {
    var options = try podOptions(global, r)
    options.mutable = true
    return try AppManager(store: try PodStore(root: global.dir)).sandbox(options)
  }

  /// A pod's settings (`app sandbox`'s, and `run`/`prepare --spec-file`'s) as PodOptions, without apps.
  static func podOptions(_ global: Globals, _ r: SandboxRequest) throws -> PodOptions {
    guard !r.net.isEmpty, !r.net.contains(":") else {
      throw LiftoffError.invalidArgument("net \"\(r.net)\": expected none, host, default or a network's name (CNI_ARGS go in cniArgs)")
    }
    let flags = PodFlags(
      net: r.net, dns: r.dns, dnsSearch: r.dnsSearch, dnsOpt: r.dnsOptions, hostname: r.hostname, stage1: r.stage1,
      stopTimeout: r.stopTimeoutSeconds)
    var options = try flags.podOptions(allowNoApps: true, global: global)
    if !(r.portMappings.isEmpty && r.cniArgs.isEmpty) {
      guard options.network == .netns, var plan = options.networkPlan else {
        throw LiftoffError.invalidArgument("port mappings and CNI_ARGS need a cni network (net default or a name), not net \(r.net)")
      }
      for (i, m) in r.portMappings.enumerated() {
        try m.check("portMappings[\(i)]")
        plan.portMappings.append(m)
      }
      for (k, v) in r.cniArgs.sorted(by: { $0.key < $1.key }) { try PodFlags.addCNIArg(k, v, to: &plan, field: "cniArgs.\(k)") }
      options.networkPlan = plan
    }
    options.annotations = r.annotations
    options.labels = r.labels
    if let u = r.userNamespace {
      try PodFlags.check(u, flavor: options.flavor, flags: ("userNamespace.uidMappings", "userNamespace.gidMappings"))
      options.userNamespace = u
    }
    options.cgroupParent = r.cgroupParent
    switch r.cgroupDriver {
    case "cgroupfs": break
    case "systemd": options.systemdCgroups = true
    default: throw LiftoffError.invalidArgument("--cgroup-driver \(r.cgroupDriver): expected cgroupfs or systemd")
    }
    switch r.ipcNamespace {
    case "pod": break
    case "host": options.hostIPC = true
    default: throw LiftoffError.invalidArgument("--ipc-namespace \(r.ipcNamespace): expected pod or host")
    }
    switch r.pidNamespace {
    case "container": break
    case "pod": options.sharedPID = true
    default: throw LiftoffError.invalidArgument("--pid-namespace \(r.pidNamespace): expected container or pod")
    }
    return options
  }
}

struct AppAddCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "add", abstract: "Add an app to a running mutable pod: add POD IMAGE --name A [app flags] [-- ARGS].",
    discussion: AppArguments.help + """

      --log-path FILE (CRI log of the app's stdout/stderr), --tty (a pty held by stage1), --stdin (stdin
      kept open for attach), --stdin-once (stdin closed when the first attached writer closes it)
    """)
  @OptionGroup var global: GlobalOptions
  @Argument(help: "Pod ID or unique prefix.") var id: String
  @Argument(parsing: .captureForPassthrough, help: "IMAGE --name A [app flags] [-- ARGS]") var rest: [String] = []

  func run() throws {
    try Stage0Command.print(.add(pod: id, app: try Self.options(rest, resolver: global.values.imageResolver)), global.values)
  }

  /// `IMAGE --name A [app flags] [--log-path F] [--tty] [--stdin|--stdin-once] [-- ARGS]` as the app.
  static func options(_ rest: [String], resolver: any ImageResolving) throws -> AppOptions {
    var args = rest
    var logPath: String?
    if let i = args.firstIndex(where: { $0 == "--log-path" || $0.hasPrefix("--log-path=") }), args.firstIndex(of: "--").map({ i < $0 }) ?? true {
      if args[i].contains("=") {
        logPath = String(args[i].split(separator: "=", maxSplits: 1)[1])
        args.remove(at: i)
      } else {
        guard i + 1 < args.count else { throw LiftoffError.invalidArgument("--log-path needs a value") }
        logPath = args[i + 1]
        args.removeSubrange(i...(i + 1))
      }
    }
    // Flags only mutable apps have, before the app's own `--`.
    let end = args.firstIndex(of: "--") ?? args.count
    let stdio = Set(args[..<end].filter { ["--tty", "--stdin", "--stdin-once"].contains($0) })
    args = args[..<end].filter { !stdio.contains($0) } + args[end...]
    var options = try AppArguments.parseApp(args, resolver: resolver, interactive: false)
    options.logPath = logPath
    options.tty = stdio.contains("--tty")
    options.stdin = stdio.contains("--stdin") || stdio.contains("--stdin-once")
    options.stdinOnce = stdio.contains("--stdin-once")
    return options
  }

  /// Adds the app (its images looked up now if they were only named); returns its name.
  static func add(_ global: Globals, pod id: String, _ options: AppOptions) throws -> String {
    let store = try PodStore(root: global.dir)
    let (full, _) = try store.resolve(id)
    return try AppManager(store: store).add(full, try options.resolvingImages(global.imageResolver)).name
  }
}

struct AppStartCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "start", abstract: "Start an added app.")
  @OptionGroup var global: GlobalOptions
  @Option(help: "The app.") var app: String
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws { try Stage0Command.print(.start(pod: id, app: app), global.values) }

  static func start(dir: String, pod id: String, app: String) throws {
    let store = try PodStore(root: dir)
    try AppManager(store: store).start(try store.resolve(id).id, app: app)
  }
}

struct AppStopCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stop", abstract: "Stop an app (stop signal, SIGKILL after --timeout); returns once it exited.")
  @OptionGroup var global: GlobalOptions
  @Option(help: "The app.") var app: String
  @Option(help: "Seconds before SIGKILL.") var timeout: Int = Self.defaultTimeout
  static let defaultTimeout = 10
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws { try Stage0Command.print(.stop(pod: id, app: app, timeoutSeconds: timeout), global.values) }

  static func stop(dir: String, pod id: String, app: String, timeout: Int) throws {
    let store = try PodStore(root: dir)
    try AppManager(store: store).stop(try store.resolve(id).id, app: app, timeoutSeconds: timeout)
  }
}

struct AppRmCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove an app (stopping it first).")
  @OptionGroup var global: GlobalOptions
  @Option(help: "The app.") var app: String
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws { try Stage0Command.print(.remove(pod: id, app: app), global.values) }

  static func remove(dir: String, pod id: String, app: String) throws {
    let store = try PodStore(root: dir)
    try AppManager(store: store).remove(try store.resolve(id).id, app: app)
  }
}

struct AppReopenLogCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "reopen-log", abstract: "Reopen an app's CRI log file.")
  @OptionGroup var global: GlobalOptions
  @Option(help: "The app.") var app: String
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws { try Stage0Command.print(.reopenLog(pod: id, app: app), global.values) }

  static func reopenLog(dir: String, pod id: String, app: String) throws {
    let store = try PodStore(root: dir)
    try AppManager(store: store).reopenLog(try store.resolve(id).id, app: app)
  }
}

struct AppListCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "list", abstract: "List a pod's apps.")
  @OptionGroup var global: GlobalOptions
  @Option var format: OutputFormat = .text
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws {
    let store = try PodStore(root: global.dir)
    let apps = try AppManager(store: store).list(try store.resolve(id).id)
    if format == .json { return try printJSON(apps) }
    print(["NAME", "STATE", "IMAGE", "EXIT CODE"].joined(separator: "\t"))
    for a in apps { print([a.name, a.state, a.image, a.exitCode.map(String.init) ?? "-"].joined(separator: "\t")) }
  }
}

struct AppStatusCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "status", abstract: "Show one app's status.")
  @OptionGroup var global: GlobalOptions
  @Option var format: OutputFormat = .text
  @Option(help: "The app.") var app: String
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws {
    let store = try PodStore(root: global.dir)
    let a = try AppManager(store: store).status(try store.resolve(id).id, app: app)
    if format == .json { return try printJSON(a) }
    print("name=\(a.name)\nstate=\(a.state)")
    if let c = a.exitCode { print("exit-code=\(c)") }
    if let r = a.reason { print("reason=\(r)") }
  }
}
