// The network Liftoff uses when the configuration directory holds none, so that a bare node runs
// networked pods: a Linux bridge with host-local IPAM, portmap for hostPorts (with SNAT so that
// hostPorts on 127.0.0.1 work) and loopback. IP masquerade is off unless turned on: pods reach the
// node and each other, and nothing is NATed out of the machine by default.
import Foundation
import Glibc
import LiftoffCore

public struct DefaultNetwork: Sendable, Equatable {
  public var name: String
  public var bridge: String
  /// IPv4 subnet in CIDR form; UpdateRuntimeConfig's pod CIDR replaces it.
  public var subnet: String
  public var ipMasq: Bool
  /// host-local's data directory; nil for its default (/var/lib/cni/networks).
  public var ipamDataDir: String?

  public init(
    name: String = "liftoff", bridge: String = "liftoff0", subnet: String = "10.88.0.0/16",
    ipMasq: Bool = false, ipamDataDir: String? = nil
  ) {
    self.name = name
    self.bridge = bridge
    self.subnet = subnet
    self.ipMasq = ipMasq
    self.ipamDataDir = ipamDataDir
  }

  /// The plugins this network needs on the plugin path.
  public static let requiredPlugins = ["bridge", "host-local", "portmap", "loopback"]

  /// The configuration list (CNI 1.0.0, which Debian's plugins 1.1.1 speak).
  public func configList() throws -> CNINetworkConfigList {
    guard !bridge.isEmpty, bridge.utf8.count <= 15, !bridge.contains("/"),
      !bridge.contains(where: { $0 == ":" || $0.isWhitespace })
    else {
      throw LiftoffError.invalidArgument("default network: bridge name \"\(bridge)\" is not a valid interface name")
    }
    guard CNIResult.isCIDR(subnet) else {
      throw LiftoffError.invalidArgument("default network: subnet \"\(subnet)\" is not an ip address with a prefix length")
    }
    let v6 = subnet.contains(":")
    var ipam: JSON = [
      "type": "host-local",
      "ranges": [[["subnet": .string(subnet)]]],
      "routes": [["dst": v6 ? "::/0" : "0.0.0.0/0"]],
    ]
    if let ipamDataDir { ipam.set("dataDir", .string(ipamDataDir)) }
    let list: JSON = [
      "cniVersion": "1.0.0",
      "name": .string(name),
      "plugins": [
        [
          "type": "bridge", "bridge": .string(bridge), "isGateway": true, "ipMasq": .bool(ipMasq),
          "hairpinMode": true, "ipam": ipam,
        ],
        ["type": "portmap", "capabilities": ["portMappings": true], "snat": true],
        ["type": "loopback"],
      ],
    ]
    return try CNINetworkConfigList(json: list, source: "embedded default network")
  }
}
