// A CNI-networked pod's network request (`--net=default|NAME[:ARGS]`, `--port`, `--dns…`,
// `--cni-arg`) and the CNI settings it was prepared with, kept in `<pod dir>/network.json` so that
// run, rm and gc (after any crash) attach and detach the pod the same way. After attach, the pod's
// files (resolv.conf, hosts, hostname) and its IPs (`ips.json`) are in `<pod dir>/network/`.
import Foundation
import LiftoffCore
import LiftoffNet
import LiftoffOS

public struct PodNetworkPlan: Codable, Sendable, Equatable {
  /// The network by name; nil for the node's network (conf dir, else the embedded default).
  public var network: String?
  public var portMappings: [PodNetworkRequest.PortMapping]
  public var dns: DNSConfig?
  public var podNamespace: String
  public var podName: String
  public var podUID: String
  /// More CNI_ARGS `KEY=VALUE` pairs.
  public var extraArgs: [String]
  public var confDir: String
  public var binDirs: [String]
  public var defaultNetwork: Bool

  public init(
    network: String? = nil, portMappings: [PodNetworkRequest.PortMapping] = [], dns: DNSConfig? = nil,
    podNamespace: String = "", podName: String = "", podUID: String = "", extraArgs: [String] = [],
    confDir: String = "/etc/cni/net.d", binDirs: [String] = ["/opt/cni/bin", "/usr/lib/cni"],
    defaultNetwork: Bool = true
  ) {
    self.network = network
    self.portMappings = portMappings
    self.dns = dns
    self.podNamespace = podNamespace
    self.podName = podName
    self.podUID = podUID
    self.extraArgs = extraArgs
    self.confDir = confDir
    self.binDirs = binDirs
    self.defaultNetwork = defaultNetwork
  }

  enum CodingKeys: String, CodingKey {
    case network, portMappings, dns, podNamespace, podName, podUID, extraArgs, confDir, binDirs, defaultNetwork
  }

  static func file(podDir: String) -> String { podDir + "/network.json" }
  static func filesDir(podDir: String) -> String { podDir + "/network" }
  static func ipsFile(podDir: String) -> String { podDir + "/network/ips.json" }
  /// Present once the pod's network was released after it stopped (PodManager.releaseNetwork).
  static func releasedFile(podDir: String) -> String { podDir + "/network/released" }
  static func isReleased(podDir: String) -> Bool { FileSystem.exists(releasedFile(podDir: podDir)) }

  /// network.json: the keys (sorted) and shapes JSONEncoder wrote before LiftoffCore.JSON did, so
  /// that either build reads the other's. (Not Codable here: JSONDecoder costs each `liftoff` that
  /// reads it first-time conformance scans, on every sandbox start, stop and removal.)
  var json: JSON {
    .obj([
      ("binDirs", .strs(binDirs)), ("confDir", .string(confDir)), ("defaultNetwork", .bool(defaultNetwork)),
      ("dns", dns.map { .obj([("options", .strs($0.options)), ("searches", .strs($0.searches)), ("servers", .strs($0.servers))]) }),
      ("extraArgs", .strs(extraArgs)), ("network", network.map { .string($0) }), ("podName", .string(podName)),
      ("podNamespace", .string(podNamespace)), ("podUID", .string(podUID)),
      // Every key, hostIP too when empty: JSONDecoder (an older build) wants them all.
      ("portMappings", .array(portMappings.map {
        .obj([("containerPort", .int(Int64($0.containerPort))), ("hostIP", .string($0.hostIP)), ("hostPort", .int(Int64($0.hostPort))), ("protocol", .string($0.proto))])
      })),
    ])
  }

  init(json j: JSON, path: String) throws(LiftoffError) {
    var r = try JSONObjectReader(j, path: path)
    network = try r.optString("network")
    portMappings = try r.objects("portMappings") { (m: inout JSONObjectReader) throws(LiftoffError) in try PodNetworkRequest.PortMapping(&m) }
    if var d = try r.optObject("dns") {
      dns = DNSConfig(servers: try d.strings("servers"), searches: try d.strings("searches"), options: try d.strings("options"))
      try d.finish()
    } else {
      dns = nil
    }
    podNamespace = try r.string("podNamespace", default: "")
    podName = try r.string("podName", default: "")
    podUID = try r.string("podUID", default: "")
    extraArgs = try r.strings("extraArgs")
    confDir = try r.string("confDir")
    binDirs = try r.strings("binDirs")
    defaultNetwork = try r.bool("defaultNetwork", default: true)
    try r.finish()
  }

  /// The plan a pod was prepared with, nil when it has none (host or none network).
  static func read(podDir: String) throws(LiftoffError) -> PodNetworkPlan? {
    let f = file(podDir: podDir)
    guard FileSystem.exists(f) else { return nil }
    do {
      return try PodNetworkPlan(json: try JSON.parse(bytes: try FileSystem.readBytes(f)), path: f)
    } catch {
      throw LiftoffError(.internal, "reading \(f)", cause: error)
    }
  }

  func write(podDir: String) throws {
    try FileSystem.writeAtomically(Self.file(podDir: podDir), json.serialized() + "\n")
  }

  /// The pod's CNI manager: cached results under `<data dir>/cni`, the pod CIDR CRI recorded.
  static func manager(root: String, confDir: String, binDirs: [String], defaultNetwork: Bool) -> CNIManager {
    CNIManager(settings: CNISettings.node(stateDir: root, confDir: confDir, binDirs: binDirs, defaultNetwork: defaultNetwork))
  }

  func lifecycle(root: String) -> PodNetworkLifecycle {
    PodNetworkLifecycle(
      cni: Self.manager(root: root, confDir: confDir, binDirs: binDirs, defaultNetwork: defaultNetwork),
      netnsDir: NetworkNamespace.defaultRunDir)
  }

  /// netns + CNI ADD + pod files (PodNetworkLifecycle.attach), then the IPs for `status`.
  func attach(podID: String, hostname: String, podDir: String, root: String) throws(LiftoffError) -> [String] {
    do {
      let filesDir = Self.filesDir(podDir: podDir)
      try FileSystem.makeDirectories(filesDir)
      let spec = PodNetworkLifecycle.Spec(
        podID: podID, hostname: hostname, podNamespace: podNamespace, podName: podName, podUID: podUID,
        portMappings: portMappings, dns: dns, network: network, extraArgs: extraArgs)
      let attached = try lifecycle(root: root).attach(spec, filesDir: filesDir)
      let ips = attached.status.ips
      try FileSystem.writeAtomically(Self.ipsFile(podDir: podDir), JSON.array(ips.map { .string($0) }).serialized() + "\n")
      return ips
    } catch let e as LiftoffError {
      throw e
    } catch {
      throw LiftoffError(.internal, "pod \(podID): attaching to the network", cause: error)
    }
  }

  /// CNI DEL with the cached result, netns removed; idempotent.
  func detach(podID: String, root: String) throws(LiftoffError) {
    do {
      try lifecycle(root: root).detach(podID: podID)
    } catch let e as LiftoffError {
      throw e
    } catch {
      throw LiftoffError(.internal, "pod \(podID): detaching from the network", cause: error)
    }
  }

  /// The IPs recorded at attach (primary first), nil when none — or when the network was released:
  /// the addresses may belong to another pod by now (containerd reports none for a stopped sandbox).
  static func ips(podDir: String) -> [String]? {
    guard !isReleased(podDir: podDir), let bytes = try? FileSystem.readBytes(ipsFile(podDir: podDir)),
      let items = (try? JSON.parse(bytes: bytes))?.arrayValue
    else { return nil }
    var ips: [String] = []
    for item in items {
      guard let ip = item.stringValue else { return nil }
      ips.append(ip)
    }
    return ips
  }
}
