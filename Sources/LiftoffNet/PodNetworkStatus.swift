// What the network gave a pod, in the terms of CRI `PodSandboxNetworkStatus` (ip, additional_ips).

/// A pod's attachment to one network: what PodSandboxStatus and `liftoff status` report.
public struct PodNetworkStatus: Sendable, Equatable {
  public var networkName: String
  public var interfaceName: String
  public var result: CNIResult
  /// All addresses of the pod on this network, IPv4 first.
  public var ips: [String] { result.podIPs }
  /// `PodSandboxStatus.network.ip`.
  public var primaryIP: String? { ips.first }
  /// `PodSandboxStatus.network.additional_ips`.
  public var additionalIPs: [String] { Array(ips.dropFirst()) }
}
