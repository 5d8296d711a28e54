// What the runtime tells the CNI plugins about a pod: the CNI_* parameters (CNI spec 1.1.0, section 2
// "Parameters"), the K8S_* CNI_ARGS kubelet-driven runtimes pass, and the `runtimeConfig` capability
// arguments of the CNI conventions document (portMappings, bandwidth, dns).
import Foundation
import LiftoffCore

public struct PodNetworkRequest: Sendable, Equatable {
  /// CNI_CONTAINERID: the pod's ID (also K8S_POD_INFRA_CONTAINER_ID).
  public var containerID: String
  /// CNI_NETNS: the pod's network namespace path, e.g. /run/netns/<name>.
  public var netnsPath: String
  /// CNI_IFNAME.
  public var ifName: String
  public var podNamespace: String
  public var podName: String
  public var podUID: String
  public var portMappings: [PortMapping]
  public var bandwidth: Bandwidth?
  public var dns: DNSConfig?
  /// More `KEY=VALUE` pairs for CNI_ARGS (`liftoff run --net=NAME:ARGS`, `--cni-arg`).
  public var extraArgs: [String]

  public init(
    containerID: String, netnsPath: String, ifName: String = "eth0", podNamespace: String = "",
    podName: String = "", podUID: String = "", portMappings: [PortMapping] = [], bandwidth: Bandwidth? = nil,
    dns: DNSConfig? = nil, extraArgs: [String] = []
  ) {
    self.extraArgs = extraArgs
    self.containerID = containerID
    self.netnsPath = netnsPath
    self.ifName = ifName
    self.podNamespace = podNamespace
    self.podName = podName
    self.podUID = podUID
    self.portMappings = portMappings
    self.bandwidth = bandwidth
    self.dns = dns
  }

  /// A hostPort mapping (`portMappings` capability).
  public struct PortMapping: Sendable, Equatable, Codable {
    public var hostPort: Int
    public var containerPort: Int
    /// "tcp", "udp" or "sctp".
    public var proto: String
    /// Host address to bind; empty for all.
    public var hostIP: String

    public init(hostPort: Int, containerPort: Int, proto: String = "tcp", hostIP: String = "") {
      self.hostPort = hostPort
      self.containerPort = containerPort
      self.proto = proto
      self.hostIP = hostIP
    }

    enum CodingKeys: String, CodingKey {
      case hostPort, containerPort, proto = "protocol", hostIP
    }

    /// Refuses a port outside 1–65535, a protocol other than tcp/udp/sctp, and a host address that is
    /// neither empty nor an IP address, naming `field`.
    public func check(_ field: String) throws(LiftoffError) {
      guard (1...65535).contains(hostPort), (1...65535).contains(containerPort) else {
        throw .invalidArgument("\(field) \(hostPort):\(containerPort) needs ports between 1 and 65535")
      }
      guard ["tcp", "udp", "sctp"].contains(proto) else {
        throw .invalidArgument("\(field): protocol \"\(proto)\" must be tcp, udp or sctp")
      }
      if !hostIP.isEmpty {
        var a4 = in_addr(), a6 = in6_addr()
        guard inet_pton(AF_INET, hostIP, &a4) == 1 || inet_pton(AF_INET6, hostIP, &a6) == 1 else {
          throw .invalidArgument("\(field): host ip \"\(hostIP)\" is not an ip address")
        }
      }
    }
  }

  /// Traffic shaping (`bandwidth` capability), rates in bits per second, bursts in bits.
  public struct Bandwidth: Sendable, Equatable, Codable {
    public var ingressRate: Int64
    public var ingressBurst: Int64
    public var egressRate: Int64
    public var egressBurst: Int64

    public init(ingressRate: Int64, ingressBurst: Int64, egressRate: Int64, egressBurst: Int64) {
      self.ingressRate = ingressRate
      self.ingressBurst = ingressBurst
      self.egressRate = egressRate
      self.egressBurst = egressBurst
    }

    enum CodingKeys: String, CodingKey { case ingressRate, ingressBurst, egressRate, egressBurst }
  }

  /// Validates what the plugins will see; throws invalidArgument naming the field.
  public func validate() throws {
    guard Self.isValidContainerID(containerID) else {
      throw LiftoffError.invalidArgument(
        "pod network: container id \"\(containerID)\" must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
      )
    }
    guard !ifName.isEmpty, ifName.utf8.count <= 15, !ifName.contains("/"), ifName != ".", ifName != "..",
      !ifName.contains(where: { $0 == ":" || $0.isWhitespace })
    else {
      throw LiftoffError.invalidArgument("pod network: interface name \"\(ifName)\" is not a valid linux interface name")
    }
    for (field, v) in [("pod namespace", podNamespace), ("pod name", podName), ("pod uid", podUID)] {
      if v.contains(";") || v.contains("=") || v.contains("\0") {
        throw LiftoffError.invalidArgument("pod network: \(field) \"\(v)\" may not contain ';', '=' or NUL")
      }
    }
    for a in extraArgs {
      let kv = a.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      guard kv.count == 2, !kv[0].isEmpty, !a.contains(";"), !a.contains("\0") else {
        throw LiftoffError.invalidArgument("pod network: cni arg \"\(a)\" must be KEY=VALUE without ';'")
      }
    }
    for m in portMappings { try m.check("pod network: port mapping") }
  }

  /// CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=…;K8S_POD_NAME=…;K8S_POD_INFRA_CONTAINER_ID=…;K8S_POD_UID=…`.
  public var cniArgs: String {
    [
      ("IgnoreUnknown", "1"), ("K8S_POD_NAMESPACE", podNamespace), ("K8S_POD_NAME", podName),
      ("K8S_POD_INFRA_CONTAINER_ID", containerID), ("K8S_POD_UID", podUID),
    ].map { "\($0.0)=\($0.1)" }.joined(separator: ";") + extraArgs.map { ";" + $0 }.joined()
  }

  /// Capability arguments by capability name, only those with something to say.
  public var capabilityArgs: [String: JSON] {
    var caps: [String: JSON] = [:]
    if !portMappings.isEmpty {
      caps["portMappings"] = .array(
        portMappings.map { m in
          var o: JSON = [
            "hostPort": .int(Int64(m.hostPort)), "containerPort": .int(Int64(m.containerPort)),
            "protocol": .string(m.proto),
          ]
          if !m.hostIP.isEmpty { o.set("hostIP", .string(m.hostIP)) }
          return o
        })
    }
    if let b = bandwidth {
      caps["bandwidth"] = [
        "ingressRate": .int(b.ingressRate), "ingressBurst": .int(b.ingressBurst),
        "egressRate": .int(b.egressRate), "egressBurst": .int(b.egressBurst),
      ]
    }
    if let d = dns, !(d.servers.isEmpty && d.searches.isEmpty && d.options.isEmpty) {
      caps["dns"] = [
        "servers": .array(d.servers.map { .string($0) }), "searches": .array(d.searches.map { .string($0) }),
        "options": .array(d.options.map { .string($0) }),
      ]
    }
    return caps
  }

  static func isValidContainerID(_ s: String) -> Bool { CNINetworkConfigList.isValidName(s) }
}

/// A pod's DNS configuration (CRI `DNSConfig`): also the `dns` capability argument.
public struct DNSConfig: Sendable, Equatable, Codable {
  public var servers: [String]
  public var searches: [String]
  public var options: [String]

  public init(servers: [String] = [], searches: [String] = [], options: [String] = []) {
    self.servers = servers
    self.searches = searches
    self.options = options
  }

  enum CodingKeys: String, CodingKey { case servers, searches, options }
}
