// The result of a CNI ADD (CNI spec 1.1.0, section 5 "Result Types"; the 0.3.x/0.4.0 shape, which adds
// `"version"` to each IP, reads the same). The whole document is kept for `prevResult`; the typed
// view gives the pod's addresses.
import Foundation
import Glibc
import LiftoffCore

public struct CNIResult: Sendable, Equatable {
  public struct Interface: Sendable, Equatable {
    public var name: String
    public var mac: String?
    /// The network namespace path for interfaces inside the pod; nil for host-side ones.
    public var sandbox: String?
  }

  public struct IPConfig: Sendable, Equatable {
    /// Address with prefix length, e.g. "10.88.0.5/16".
    public var address: String
    public var gateway: String?
    /// Index into `interfaces`.
    public var interface: Int?
    /// The address without its prefix length.
    public var ip: String { address.split(separator: "/", maxSplits: 1).first.map(String.init) ?? address }
    public var isIPv6: Bool { ip.contains(":") }
  }

  public var cniVersion: String?
  public var interfaces: [Interface]
  public var ips: [IPConfig]
  /// The document exactly as the plugin wrote it.
  public var json: JSON

  public init(json: JSON, source: String) throws {
    let obj = json
    guard obj.objectValue != nil else {
      throw LiftoffError(.internal, "\(source): result is not a json object")
    }
    self.json = json
    cniVersion = obj["cniVersion"]?.stringValue
    interfaces = (obj["interfaces"]?.arrayValue ?? []).compactMap { v in
      guard let name = v["name"]?.stringValue else { return nil }
      let sandbox = v["sandbox"]?.stringValue
      return Interface(name: name, mac: v["mac"]?.stringValue, sandbox: sandbox?.isEmpty == true ? nil : sandbox)
    }
    ips = try (obj["ips"]?.arrayValue ?? []).map { v in
      guard let address = v["address"]?.stringValue, Self.isCIDR(address) else {
        throw LiftoffError(.internal, "\(source): result has an ip without a valid \"address\"")
      }
      return IPConfig(
        address: address, gateway: v["gateway"]?.stringValue, interface: v["interface"]?.intValue)
    }
  }

  /// The pod's addresses: those on interfaces inside the sandbox (or on no named interface), IPv4
  /// first, as kubelet expects the primary address of a dual-stack pod to be IPv4.
  public var podIPs: [String] {
    let inPod = ips.filter { ip in
      guard let i = ip.interface, interfaces.indices.contains(i) else { return true }
      return interfaces[i].sandbox != nil && interfaces[i].name != "lo"
    }
    return inPod.filter { !$0.isIPv6 }.map(\.ip) + inPod.filter(\.isIPv6).map(\.ip)
  }

  static func isCIDR(_ s: String) -> Bool {
    let parts = s.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 2, let len = Int(parts[1]), len >= 0 else { return false }
    let ip = String(parts[0])
    var buf = in6_addr()
    if inet_pton(AF_INET, ip, &buf) == 1 { return len <= 32 }
    if inet_pton(AF_INET6, ip, &buf) == 1 { return len <= 128 }
    return false
  }
}

/// A plugin's own error (CNI spec 1.1.0, section 2 "Errors"): its code, `msg` and `details` verbatim.
public struct CNIPluginError: Error, Sendable, CustomStringConvertible {
  public var plugin: String
  public var command: String
  /// The CNI error code (1–99 well-known, 100+ plugin-specific); nil when the plugin wrote no error JSON.
  public var code: Int?
  public var msg: String
  public var details: String?
  public var exitStatus: Int32

  public var description: String {
    var s = msg
    if let details, !details.isEmpty { s += ": " + details }
    if let code { s += " (cni error code \(code))" } else { s += " (exit status \(exitStatus))" }
    return s
  }
}
