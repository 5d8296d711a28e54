// The whole network life of one non-host pod, for stage0 (`liftoff run`, `liftoff app sandbox`) to call:
//
//   attach:  netns /run/netns/liftoff-<pod id>  →  CNI ADD (result cached)  →  resolv.conf, hosts,
//            hostname written into the pod's files dir   (any failure undoes what was done before it)
//   detach:  CNI DEL (with the cached result and config)  →  netns unmounted and removed
//            (idempotent: a second detach, or one after a crash at any point, succeeds)
//
// stage1 then joins the namespace by path (setns on a net namespace is allowed in its process) and
// bind-mounts the three files into each app's /etc.
import Foundation
import LiftoffCore

public struct PodNetworkLifecycle: Sendable {
  public let cni: CNIManager
  public let netnsDir: String

  public init(cni: CNIManager, netnsDir: String = NetworkNamespace.defaultRunDir) {
    self.cni = cni
    self.netnsDir = netnsDir
  }

  /// What a pod asks of the network.
  public struct Spec: Sendable {
    public var podID: String
    public var hostname: String
    public var podNamespace: String
    public var podName: String
    public var podUID: String
    public var portMappings: [PodNetworkRequest.PortMapping]
    public var bandwidth: PodNetworkRequest.Bandwidth?
    /// The sandbox's DNS config; nil or empty means the host's resolv.conf (minus localhost servers).
    public var dns: DNSConfig?
    /// A network by name (`--net=NAME`); nil for the node's network (conf dir, else embedded default).
    public var network: String?
    /// More `KEY=VALUE` pairs for CNI_ARGS.
    public var extraArgs: [String]

    public init(
      podID: String, hostname: String, podNamespace: String = "", podName: String = "", podUID: String = "",
      portMappings: [PodNetworkRequest.PortMapping] = [], bandwidth: PodNetworkRequest.Bandwidth? = nil,
      dns: DNSConfig? = nil, network: String? = nil, extraArgs: [String] = []
    ) {
      self.extraArgs = extraArgs
      self.podID = podID
      self.hostname = hostname
      self.podNamespace = podNamespace
      self.podName = podName
      self.podUID = podUID
      self.portMappings = portMappings
      self.bandwidth = bandwidth
      self.dns = dns
      self.network = network
    }
  }

  public struct Attached: Sendable {
    public var netnsPath: String
    public var status: PodNetworkStatus
    public var files: (resolvConf: String, hosts: String, hostname: String)
  }

  public func netnsPath(podID: String) -> String { netnsDir + "/liftoff-" + podID }

  /// Creates the pod's namespace, attaches it to the network and writes its files into `filesDir`.
  public func attach(_ spec: Spec, filesDir: String, hostResolvConf: String = "/etc/resolv.conf") throws -> Attached {
    try PodFiles.validateHostname(spec.hostname)
    let request = PodNetworkRequest(
      containerID: spec.podID, netnsPath: netnsPath(podID: spec.podID), podNamespace: spec.podNamespace,
      podName: spec.podName, podUID: spec.podUID, portMappings: spec.portMappings, bandwidth: spec.bandwidth,
      dns: spec.dns, extraArgs: spec.extraArgs)
    try request.validate()
    let ns = try NetworkNamespace.create(name: "liftoff-" + spec.podID, runDir: netnsDir)
    let status: PodNetworkStatus
    do {
      status = try cni.setUp(request, network: spec.network)
    } catch {
      try? NetworkNamespace.remove(ns)
      throw error
    }
    do {
      let files = try PodFiles.write(
        to: filesDir, hostname: spec.hostname, ips: status.ips, dns: spec.dns, hostResolvConf: hostResolvConf)
      return Attached(netnsPath: ns, status: status, files: files)
    } catch {
      try? cni.tearDown(request)
      try? NetworkNamespace.remove(ns)
      throw error
    }
  }

  /// Detaches the pod from every network it was attached to and removes its namespace.
  public func detach(podID: String) throws {
    let ns = netnsPath(podID: podID)
    try cni.tearDown(PodNetworkRequest(containerID: podID, netnsPath: ns))
    try NetworkNamespace.remove(ns)
  }
}
