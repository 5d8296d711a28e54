// The runtime side of CNI (spec 1.1.0, section 3 "Execution of Network Configurations"): runs a
// configuration list's plugins for ADD, DEL, CHECK, STATUS and GC, keeps each attachment's record on
// disk (CNIResultCache), and tells CRI Status whether the network is ready.
//
// The configuration is read from disk on every call, never cached: dropping a file into the conf dir
// (or removing a plugin binary) changes the next answer without a restart.
//
// Calls block the calling thread while plugins run (each bounded by `pluginTimeout`); they are meant
// for stage0 commands (`liftoff app sandbox`, `liftoff rm`, `liftoff gc`), one pod at a time.
import Foundation
import LiftoffCore
import Synchronization

public struct CNISettings: Sendable, Equatable {
  public var confDir: String
  public var binDirs: [String]
  /// Root of the result cache (results under `<cacheDir>/results`).
  public var cacheDir: String
  /// Seconds each plugin invocation may take before it is killed.
  public var pluginTimeout: Double
  /// The embedded network used when `confDir` holds no configuration; nil turns it off
  /// (`--cni-default-network=false`), and then an empty conf dir means the network is not ready.
  public var defaultNetwork: DefaultNetwork?

  public init(
    confDir: String = "/etc/cni/net.d", binDirs: [String] = ["/opt/cni/bin", "/usr/lib/cni"],
    cacheDir: String = "/var/lib/liftoff/cni", pluginTimeout: Double = 60,
    defaultNetwork: DefaultNetwork? = DefaultNetwork()
  ) {
    self.confDir = confDir
    self.binDirs = binDirs
    self.cacheDir = cacheDir
    self.pluginTimeout = pluginTimeout
    self.defaultNetwork = defaultNetwork
  }
}

/// CRI `NetworkReady` condition.
public struct NetworkStatus: Sendable, Equatable {
  public var ready: Bool
  public var reason: String
  public var message: String

  public static let ok = NetworkStatus(ready: true, reason: "", message: "")
}

/// An attachment GC must keep (CNI 1.1 `cni.dev/valid-attachments`).
public struct CNIAttachment: Sendable, Hashable {
  public var containerID: String
  public var ifName: String
  public init(containerID: String, ifName: String = "eth0") {
    self.containerID = containerID
    self.ifName = ifName
  }
}

public final class CNIManager: Sendable {
  private let state: Mutex<CNISettings>
  /// Told of every plugin invocation (CNIPluginRun.swift); by default the stderr reporter when the
  /// environment asks for it (liftoff-cri sets LIFTOFF_CNI_REPORT=stderr for the `liftoff` it runs).
  private let reporter: (@Sendable (CNIPluginRun) -> Void)?

  public init(settings: CNISettings = CNISettings(), reporter: (@Sendable (CNIPluginRun) -> Void)? = CNIPluginRun.environmentReporter()) {
    state = Mutex(settings)
    self.reporter = reporter
  }

  public var settings: CNISettings { state.withLock { $0 } }

  /// UpdateRuntimeConfig: the node's pod CIDR replaces the embedded default network's subnet
  /// (kept in memory; the caller persists it if it must survive a restart).
  public func setPodCIDR(_ cidr: String) throws {
    guard CNIResult.isCIDR(cidr) else {
      throw LiftoffError.invalidArgument("pod cidr \"\(cidr)\" is not an ip address with a prefix length")
    }
    state.withLock { s in s.defaultNetwork?.subnet = cidr }
  }

  private var cache: CNIResultCache { CNIResultCache(root: settings.cacheDir) }

  // MARK: configuration

  /// The configuration list in force now: the named network from the conf dir, else the lexically first
  /// file, else the embedded default (if on); nil when there is none.
  public func currentConfig(named name: String? = nil) throws -> CNINetworkConfigList? {
    let s = settings
    if let name {
      for file in try CNIConfigLoader.candidateFiles(in: s.confDir) {
        if let list = try? CNIConfigLoader.load(file: file), list.name == name { return list }
      }
      if let d = s.defaultNetwork, name == d.name || name == "default" { return try d.configList() }
      throw LiftoffError.notFound("cni network \"\(name)\" not found in \(s.confDir)")
    }
    if let list = try CNIConfigLoader.load(dir: s.confDir) { return list }
    return try s.defaultNetwork?.configList()
  }

  /// The full path of a plugin executable, searched in `binDirs` in order.
  public func findPlugin(_ type: String) -> String? {
    for dir in settings.binDirs where !dir.isEmpty {
      let p = dir + "/" + type
      var st = stat()
      if stat(p, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, access(p, X_OK) == 0 { return p }
    }
    return nil
  }

  /// CRI Status `NetworkReady`: false with a reason when no configuration exists, it is invalid, a
  /// plugin it needs is missing, or (CNI 1.1) a plugin's STATUS fails.
  public func networkStatus() -> NetworkStatus {
    let s = settings
    let list: CNINetworkConfigList
    do {
      guard let l = try currentConfig() else {
        return NetworkStatus(
          ready: false, reason: "NoNetworkConfig",
          message: "no cni network configuration (*.conflist, *.conf, *.json) in \(s.confDir) and the embedded default network is off"
        )
      }
      list = l
    } catch {
      return NetworkStatus(ready: false, reason: "InvalidNetworkConfig", message: "\(error)")
    }
    for plugin in list.plugins {
      for type in [plugin.type] + (plugin.ipamType.map { [$0] } ?? []) where findPlugin(type) == nil {
        return NetworkStatus(
          ready: false, reason: "NetworkPluginMissing",
          message: "cni plugin \"\(type)\" needed by network \"\(list.name)\" (\(list.source)) is not in "
            + s.binDirs.joined(separator: ":"))
      }
    }
    if list.hasStatusAndGC {
      do {
        try status(list)
      } catch {
        return NetworkStatus(ready: false, reason: "NetworkPluginNotReady", message: "\(error)")
      }
    }
    return .ok
  }

  // MARK: ADD

  /// Attaches a pod to the network (ADD of every plugin in order, each given the previous result).
  /// On failure every plugin gets DEL, so nothing is left behind, and the plugin's error is thrown
  /// with its own text.
  @discardableResult
  public func setUp(_ request: PodNetworkRequest, network: String? = nil) throws -> PodNetworkStatus {
    try request.validate()
    guard let list = try currentConfig(named: network) else {
      throw LiftoffError(
        .failedPrecondition,
        "no cni network configuration in \(settings.confDir) and the embedded default network is off")
    }
    // A second ADD of the same attachment would, on failure, roll back the first one: refuse it.
    if let existing = try cache.read(network: list.name, containerID: request.containerID, ifName: request.ifName) {
      throw LiftoffError(
        .alreadyExists,
        "container \(request.containerID) \(request.ifName) is already "
          + (existing.result == nil ? "being attached (or a crash left it half-attached: liftoff gc)" : "attached")
          + " to cni network \"\(list.name)\"")
    }
    let entry = CNICacheEntry(
      containerID: request.containerID, ifName: request.ifName, netnsPath: request.netnsPath,
      cniArgs: request.cniArgs, capabilityArgs: request.capabilityArgs, config: list.json, result: nil)
    try cache.write(entry, network: list.name)  // intent first: a crash from here on is GC's to undo
    var prev: JSON? = nil
    do {
      for plugin in list.plugins {
        let out = try invoke(plugin, list: list, command: "ADD", entry: entry, prevResult: prev)
        guard !out.isEmpty else {
          throw LiftoffError(
            .internal, "cni plugin \(plugin.type) returned no result for ADD on network \"\(list.name)\"")
        }
        prev = try JSON.parse(out, what: "cni plugin \(plugin.type) ADD result")
      }
      let result = try CNIResult(json: prev ?? .null, source: "cni network \"\(list.name)\" ADD")
      var done = entry
      done.result = result.json
      try cache.write(done, network: list.name)
      return PodNetworkStatus(networkName: list.name, interfaceName: request.ifName, result: result)
    } catch {
      var rolled = entry
      rolled.result = prev
      do {
        try runDel(list: list, entry: rolled)
        try cache.remove(network: list.name, containerID: request.containerID, ifName: request.ifName)
      } catch let delError {
        throw LiftoffError(
          (error as? LiftoffError)?.code ?? .internal,
          "\(Self.describe(error)); rolling back with DEL also failed (liftoff gc retries it): \(delError)",
          cause: (error as? LiftoffError)?.cause)
      }
      throw error
    }
  }

  // MARK: DEL

  /// Detaches a pod from every network it has a record for (or, without a record, from the current
  /// network). Idempotent: succeeds when already detached, and when the netns is gone.
  public func tearDown(_ request: PodNetworkRequest, network: String? = nil) throws {
    try request.validate()
    var nets = cache.networks(containerID: request.containerID, ifName: request.ifName)
    if let network { nets = nets.filter { $0 == network } }
    if nets.isEmpty {
      // No record (never added, or removed by an earlier DEL): DEL with what we know; plugins treat
      // DEL of something absent as success.
      guard let list = try currentConfig(named: network) else { return }
      let entry = CNICacheEntry(
        containerID: request.containerID, ifName: request.ifName, netnsPath: request.netnsPath,
        cniArgs: request.cniArgs, capabilityArgs: request.capabilityArgs, config: list.json, result: nil)
      try runDel(list: list, entry: entry)
      return
    }
    for net in nets {
      guard let entry = try cache.read(network: net, containerID: request.containerID, ifName: request.ifName)
      else { continue }
      let list = try CNINetworkConfigList(json: entry.config, source: "cached config of network \"\(net)\"")
      try runDel(list: list, entry: entry)
      try cache.remove(network: net, containerID: request.containerID, ifName: request.ifName)
    }
  }

  private func runDel(list: CNINetworkConfigList, entry: CNICacheEntry) throws {
    var e = entry
    // A namespace that is gone is passed as empty: the plugins then release what lives outside it
    // (IP allocations, host veths, iptables rules) and succeed. So is a path that is no namespace
    // (left as a plain file by a `liftoff` killed between a namespace's unmount and its unlink, or
    // between its file's creation and the bind mount): handed on, every plugin's DEL fails on it
    // ("unknown FS magic") and the pod could never be stopped.
    if !e.netnsPath.isEmpty && !NetworkNamespace.isNamespace(e.netnsPath) { e.netnsPath = "" }
    for plugin in list.plugins.reversed() {
      _ = try invoke(plugin, list: list, command: "DEL", entry: e, prevResult: entry.result)
    }
  }

  // MARK: CHECK, STATUS, GC

  /// CHECK (CNI ≥ 0.4.0 and not `disableCheck`): every plugin verifies the attachment is as ADD left it.
  public func check(_ request: PodNetworkRequest, network: String? = nil) throws {
    try request.validate()
    var nets = cache.networks(containerID: request.containerID, ifName: request.ifName)
    if let network { nets = nets.filter { $0 == network } }
    guard let net = nets.first,
      let entry = try cache.read(network: net, containerID: request.containerID, ifName: request.ifName),
      entry.result != nil
    else {
      throw LiftoffError.notFound("no cni attachment recorded for container \(request.containerID) \(request.ifName)")
    }
    let list = try CNINetworkConfigList(json: entry.config, source: "cached config of network \"\(net)\"")
    guard list.hasCheck, !list.disableCheck else { return }
    for plugin in list.plugins {
      _ = try invoke(plugin, list: list, command: "CHECK", entry: entry, prevResult: entry.result)
    }
  }

  /// STATUS (CNI ≥ 1.1.0) of the current network; earlier versions have no STATUS and count as ready.
  public func status() throws {
    guard let list = try currentConfig() else {
      throw LiftoffError(.failedPrecondition, "no cni network configuration in \(settings.confDir)")
    }
    try status(list)
  }

  private func status(_ list: CNINetworkConfigList) throws {
    guard list.hasStatusAndGC else { return }
    for plugin in list.plugins {
      _ = try invoke(plugin, list: list, command: "STATUS", entry: nil, prevResult: nil)
    }
  }

  /// Garbage collection: DEL of every recorded attachment not in `valid` (whatever network version,
  /// with the configuration it was added with), then, for a CNI ≥ 1.1 current network without
  /// `disableGC`, the GC verb with the valid attachments so plugins free what no record knows about.
  /// Returns the attachments it removed; the first error is thrown after every entry was tried.
  @discardableResult
  public func gc(valid: Set<CNIAttachment>) throws -> [CNIAttachment] {
    var removed: [CNIAttachment] = []
    var firstError: (any Error)? = nil
    let (entries, _) = cache.all()
    for (net, entry) in entries where !valid.contains(CNIAttachment(containerID: entry.containerID, ifName: entry.ifName)) {
      do {
        let list = try CNINetworkConfigList(json: entry.config, source: "cached config of network \"\(net)\"")
        try runDel(list: list, entry: entry)
        try cache.remove(network: net, containerID: entry.containerID, ifName: entry.ifName)
        removed.append(CNIAttachment(containerID: entry.containerID, ifName: entry.ifName))
      } catch {
        if firstError == nil { firstError = error }
      }
    }
    if let list = try? currentConfig(), list.hasStatusAndGC, !list.disableGC {
      let attachments: JSON = .array(
        valid.sorted { ($0.containerID, $0.ifName) < ($1.containerID, $1.ifName) }.map {
          ["containerID": .string($0.containerID), "ifname": .string($0.ifName)]
        })
      for plugin in list.plugins {
        do {
          _ = try invoke(plugin, list: list, command: "GC", entry: nil, prevResult: nil,
            extra: [("cni.dev/valid-attachments", attachments)])
        } catch {
          if firstError == nil { firstError = error }
        }
      }
    }
    if let firstError { throw firstError }
    return removed
  }

  /// The recorded attachment of a pod (for PodSandboxStatus and `liftoff status`), nil if none.
  public func podNetwork(containerID: String, ifName: String = "eth0") throws -> PodNetworkStatus? {
    for net in cache.networks(containerID: containerID, ifName: ifName) {
      if let e = try cache.read(network: net, containerID: containerID, ifName: ifName), let r = e.result {
        return PodNetworkStatus(
          networkName: net, interfaceName: ifName, result: try CNIResult(json: r, source: "cni cache of \(containerID)"))
      }
    }
    return nil
  }

  // MARK: plugin invocation

  /// The configuration one plugin gets on stdin: its own fields plus the list's name and version, the
  /// capability arguments it declared, `prevResult`, and `extra` (GC's attachments). The plugin's keys
  /// keep the configuration file's order; a key Liftoff sets is replaced where it stands, or appended.
  static func pluginConfig(
    _ plugin: CNIPluginConfig, list: CNINetworkConfigList, capabilityArgs: [String: JSON],
    prevResult: JSON?, extra: [(String, JSON)] = []
  ) -> JSON {
    var o = plugin.fields
    o.set("name", .string(list.name))
    o.set("cniVersion", .string(list.cniVersion))
    let rc = plugin.capabilityOrder.compactMap { cap in capabilityArgs[cap].map { (cap, $0) } }
    o.set("runtimeConfig", rc.isEmpty ? nil : .object(rc))
    o.set("prevResult", prevResult)
    for (k, v) in extra { o.set(k, v) }
    return o
  }

  private func invoke(
    _ plugin: CNIPluginConfig, list: CNINetworkConfigList, command: String, entry: CNICacheEntry?,
    prevResult: JSON?, extra: [(String, JSON)] = []
  ) throws -> Data {
    let s = settings
    guard let path = findPlugin(plugin.type) else {
      throw LiftoffError(
        .failedPrecondition,
        "cni plugin \"\(plugin.type)\" of network \"\(list.name)\" not found in \(s.binDirs.joined(separator: ":"))")
    }
    let config = Self.pluginConfig(
      plugin, list: list, capabilityArgs: entry?.capabilityArgs ?? [:], prevResult: prevResult, extra: extra)
    var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CNI_") }
    if env["PATH"] == nil { env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
    env["CNI_COMMAND"] = command
    env["CNI_PATH"] = s.binDirs.joined(separator: ":")
    if let entry {
      env["CNI_CONTAINERID"] = entry.containerID
      env["CNI_NETNS"] = entry.netnsPath
      env["CNI_IFNAME"] = entry.ifName
      env["CNI_ARGS"] = entry.cniArgs
    }
    let out: PluginProcess.Output
    let began = ContinuousClock.now
    var succeeded = false
    defer {
      if let reporter {
        let d = (ContinuousClock.now - began).components
        reporter(CNIPluginRun(
          plugin: plugin.type, command: command, seconds: Double(d.seconds) + Double(d.attoseconds) / 1e18, success: succeeded))
      }
    }
    do {
      out = try PluginProcess.run(
        path: path, environment: env.map { "\($0.key)=\($0.value)" }.sorted(), stdin: Data(config.serialized().utf8),
        timeout: s.pluginTimeout)
    } catch var e as LiftoffError {
      e.message = "cni plugin \(plugin.type) \(command) on network \"\(list.name)\"\(Self.forWhom(entry)): " + e.message
      throw e
    } catch {
      throw LiftoffError(
        .internal, "cni plugin \(plugin.type) \(command) on network \"\(list.name)\"\(Self.forWhom(entry)): cannot run \(path)",
        cause: error as? SystemCallError ?? DescribedError(error))
    }
    guard out.exitStatus == 0 else {
      let pe = Self.pluginError(plugin: plugin.type, command: command, out)
      throw LiftoffError(
        .internal, "cni plugin \(plugin.type) \(command) on network \"\(list.name)\"\(Self.forWhom(entry)) failed: \(pe)",
        cause: pe)
    }
    succeeded = true
    return out.stdout
  }

  private static func forWhom(_ entry: CNICacheEntry?) -> String {
    entry.map { " for container \($0.containerID)" } ?? ""
  }

  static func pluginError(plugin: String, command: String, _ out: PluginProcess.Output) -> CNIPluginError {
    if let json = try? JSON.parse(out.stdout, what: plugin), let msg = json["msg"]?.stringValue {
      return CNIPluginError(
        plugin: plugin, command: command, code: json["code"]?.intValue, msg: msg,
        details: json["details"]?.stringValue, exitStatus: out.exitStatus)
    }
    let text = (String(decoding: out.stdout, as: UTF8.self) + "\n" + String(decoding: out.stderr, as: UTF8.self))
      .trimmingCharacters(in: .whitespacesAndNewlines)
    return CNIPluginError(
      plugin: plugin, command: command, code: nil,
      msg: text.isEmpty ? "no error output" : String(text.suffix(4096)), details: nil, exitStatus: out.exitStatus)
  }

  private static func describe(_ e: any Error) -> String { "\(e)" }
}
