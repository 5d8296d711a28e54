// The node's pod CIDR, as kubelet sets it through the CRI UpdateRuntimeConfig RPC. It replaces the
// embedded default network's subnet and is kept on disk (`<dir>/network/pod-cidr`, written
// atomically), so that it survives a liftoff-cri restart and so that stage0 (`liftoff`), which sets up
// pod networks, uses the same subnet as the CRI service that was told about it.
import Foundation
import LiftoffCore
import LiftoffOS

public enum PodCIDRStore {
  public static func path(stateDir: String) -> String { stateDir + "/network/pod-cidr" }

  /// The recorded pod CIDR, or nil when none was ever set.
  public static func load(stateDir: String) -> String? {
    guard let text = try? String(contentsOfFile: path(stateDir: stateDir), encoding: .utf8) else { return nil }
    let cidr = text.trimmingCharacters(in: .whitespacesAndNewlines)
    return CNIResult.isCIDR(cidr) ? cidr : nil
  }

  /// Validates and records `cidrs` (kubelet's `pod_cidr`: one CIDR, or a comma-separated dual-stack
  /// pair). The embedded default network uses the first; it returns that one.
  @discardableResult
  public static func save(_ cidrs: String, stateDir: String) throws -> String {
    let list = cidrs.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    guard let first = list.first, !first.isEmpty else {
      throw LiftoffError.invalidArgument("pod_cidr is empty")
    }
    for c in list where !CNIResult.isCIDR(c) {
      throw LiftoffError.invalidArgument("pod_cidr \"\(c)\" is not an ip address with a prefix length")
    }
    let file = path(stateDir: stateDir)
    try FileSystem.makeDirectories(FileSystem.parent(of: file), mode: 0o700)
    try FileSystem.writeAtomically(file, first + "\n", mode: 0o644)
    return first
  }
}

extension CNISettings {
  /// The settings of a node whose state lives in `stateDir`: the CNI result cache under it, and the
  /// embedded default network (when `defaultNetwork` is on) on the recorded pod CIDR, if any.
  public static func node(
    stateDir: String, confDir: String, binDirs: [String], defaultNetwork: Bool
  ) -> CNISettings {
    var network: DefaultNetwork? = nil
    if defaultNetwork {
      var d = DefaultNetwork()
      if let cidr = PodCIDRStore.load(stateDir: stateDir) { d.subnet = cidr }
      network = d
    }
    return CNISettings(confDir: confDir, binDirs: binDirs, cacheDir: stateDir + "/cni", defaultNetwork: network)
  }
}
