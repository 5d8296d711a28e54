// The verbs liftoff-cri runs for every container and pod change (`app sandbox|add|start|stop|rm`, `stop`,
// `rm`), dispatched without ArgumentParser. Its reflection over the command tree (Mirror, protocol conformance
// lookups over the ~9,000 conformance records of this binary) cost ~4 ms of each ~10 ms run. Only the
// plain shape of each command line is taken here — known flags with their values, then positionals;
// anything else (help, an unknown or repeated flag, a value of the wrong type) returns nil and goes to
// ArgumentParser, so help, errors and every other command behave exactly as before. The commands
// themselves are the same functions ArgumentParser's commands call.
import Foundation
import LiftoffCLI
import LiftoffCore
import LiftoffPod

enum FastPath {
  /// `globals`: the global flags main moved out (`--dir X`, `--cni-conf-dir=Y`, …); `args`: the rest.
  /// Returns the command to run, or nil when the line is not in a shape taken here.
  static func command(globals: [String], _ args: [String]) -> (() throws -> Void)? {
    guard let global = Self.globals(globals) else { return nil }
    let dir = global.dir
    switch (args.first, args.dropFirst().first) {
    case ("app", "start"?):
      guard let (app, pod, _) = appLine(args.dropFirst(2)) else { return nil }
      return { try AppStartCommand.start(dir: dir, pod: pod, app: app) }
    case ("app", "stop"?):
      guard let (app, pod, values) = appLine(args.dropFirst(2), also: ["--timeout"]) else { return nil }
      var timeout = AppStopCommand.defaultTimeout
      if let t = values["--timeout"] {
        guard let n = Int(t) else { return nil }
        timeout = n
      }
      return { try AppStopCommand.stop(dir: dir, pod: pod, app: app, timeout: timeout) }
    case ("app", "rm"?):
      guard let (app, pod, _) = appLine(args.dropFirst(2)) else { return nil }
      return { try AppRmCommand.remove(dir: dir, pod: pod, app: app) }
    case ("app", "sandbox"?):
      // The flags AppSandboxCommand declares, nothing else (run's other pod flags are not sandbox's).
      let single: Set<String> = [
        "--net", "--hostname", "--stage1", "--stop-timeout", "--ipc-namespace", "--cgroup-parent", "--cgroup-driver",
        "--pid-namespace",
      ]
      let repeated: Set<String> = [
        "--port", "--port-mapping", "--dns", "--dns-search", "--dns-opt", "--cni-arg", "--annotation", "--label",
        "--userns-uid-map", "--userns-gid-map",
      ]
      guard let line = Line(args.dropFirst(2), values: single, lists: repeated), line.positionals.isEmpty else { return nil }
      var flags = PodFlags()
      if let v = line.values["--net"] { flags.net = v }
      flags.hostname = line.values["--hostname"]
      if let v = line.values["--stage1"] { flags.stage1 = v }
      if let v = line.values["--stop-timeout"] {
        guard let n = Int(v) else { return nil }
        flags.stopTimeout = n
      }
      let l = line.lists
      flags.port = l["--port"] ?? []
      flags.portMapping = l["--port-mapping"] ?? []
      flags.dns = l["--dns"] ?? []
      flags.dnsSearch = l["--dns-search"] ?? []
      flags.dnsOpt = l["--dns-opt"] ?? []
      flags.cniArg = l["--cni-arg"] ?? []
      flags.annotation = l["--annotation"] ?? []
      flags.label = l["--label"] ?? []
      flags.usernsUidMap = l["--userns-uid-map"] ?? []
      flags.usernsGidMap = l["--userns-gid-map"] ?? []
      let ipc = line.values["--ipc-namespace"] ?? AppSandboxCommand.defaultIPCNamespace
      let pid = line.values["--pid-namespace"] ?? AppSandboxCommand.defaultPIDNamespace
      let parent = line.values["--cgroup-parent"]
      let driver = line.values["--cgroup-driver"] ?? "cgroupfs"
      return {
        try AppSandboxCommand.sandbox(
          global, flags, ipcNamespace: ipc, pidNamespace: pid, cgroupParent: parent, cgroupDriver: driver)
      }
    case ("app", "add"?):
      // add POD IMAGE …: everything after the pod is the app's, parsed by AppArguments as before.
      guard args.count >= 4, !args[2].hasPrefix("-"), !args[3].hasPrefix("-") else { return nil }
      let pod = args[2]
      let rest = Array(args[3...])
      return { try AppAddCommand.add(global, pod: pod, rest) }
    case ("stop", _):
      guard let line = Line(args.dropFirst(), values: ["--timeout"], flags: ["--force"]), !line.positionals.isEmpty
      else { return nil }
      var timeout: Int?
      if let t = line.values["--timeout"] {
        guard let n = Int(t) else { return nil }
        timeout = n
      }
      return {
        try StopCommand.stop(dir: dir, ids: line.positionals, force: line.flags.contains("--force"), timeout: timeout)
      }
    case ("rm", _):
      guard let line = Line(args.dropFirst(), values: []), !line.positionals.isEmpty else { return nil }
      return { try RmCommand.remove(dir: dir, ids: line.positionals) }
    default:
      return nil
    }
  }

  /// `--app A POD` and the values of the `also` flags, for the app verbs.
  static func appLine(_ args: ArraySlice<String>, also: Set<String> = []) -> (String, String, [String: String])? {
    guard let line = Line(args, values: also.union(["--app"])), let app = line.values["--app"], line.positionals.count == 1
    else { return nil }
    return (app, line.positionals[0], line.values)
  }

  /// The settings the global flags give (GlobalOptions' defaults otherwise), or nil when a flag is
  /// repeated, lacks its value or has one ArgumentParser would refuse.
  static func globals(_ flags: [String]) -> Globals? {
    guard let line = Line(flags[...], values: CommandLineEntry.globalNames), line.positionals.isEmpty else { return nil }
    var g = Globals()
    if let v = line.values["--dir"] { g.dir = v }
    if let v = line.values["--cni-conf-dir"] { g.cniConfDir = v }
    if let v = line.values["--cni-bin-dir"] { g.cniBinDir = v }
    if let v = line.values["--trust-dir"] { g.trustDir = v }
    if let b = line.values["--cni-default-network"] {
      guard b == "true" || b == "false" else { return nil }
      g.cniDefaultNetwork = b == "true"
    }
    return g
  }

  /// A command line of `--flag VALUE`, `--flag=VALUE`, `--switch` and positionals, in any order.
  struct Line {
    var values: [String: String] = [:]
    var lists: [String: [String]] = [:]
    var flags: Set<String> = []
    var positionals: [String] = []

    /// nil on an unknown flag, a repeated one (but for `lists`), a missing value, or `--`.
    init?(
      _ args: ArraySlice<String>, values valueFlags: Set<String>, lists listFlags: Set<String> = [],
      flags switchFlags: Set<String> = []
    ) {
      var rest = args
      while let a = rest.popFirst() {
        guard a.hasPrefix("-") else {
          positionals.append(a)
          continue
        }
        let parts = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts[0]
        if switchFlags.contains(name), parts.count == 1, !flags.contains(name) {
          flags.insert(name)
          continue
        }
        guard (valueFlags.contains(name) && values[name] == nil) || listFlags.contains(name) else { return nil }
        let value: String
        if parts.count == 2 {
          value = parts[1]
        } else {
          guard let v = rest.popFirst(), !v.hasPrefix("-") else { return nil }
          value = v
        }
        if listFlags.contains(name) { lists[name, default: []].append(value) } else { values[name] = value }
      }
    }
  }
}
