// The three files that give a pod its name and resolver: /etc/resolv.conf (resolv.conf(5)) from the
// sandbox's DNS config, or the host's minus nameservers on localhost (unreachable from a pod's own
// network namespace; a host-network pod keeps them: it shares the host's); /etc/hosts (hosts(5)) with
// the localhost lines and the pod's hostname on each of its IPs; /etc/hostname.
import Foundation
import Glibc
import LiftoffCore
import LiftoffOS

public enum PodFiles {
  /// resolv.conf text: from `dns` when it says anything, else from the host's file — without its
  /// localhost nameservers unless `hostNetwork` (the pod shares the host's network and reaches them).
  public static func resolvConf(dns: DNSConfig?, hostResolvConf: String = "/etc/resolv.conf", hostNetwork: Bool = false) throws -> String {
    if let dns, !(dns.servers.isEmpty && dns.searches.isEmpty && dns.options.isEmpty) {
      try validate(dns)
      var lines: [String] = []
      if !dns.searches.isEmpty { lines.append("search " + dns.searches.joined(separator: " ")) }
      lines += dns.servers.map { "nameserver " + $0 }
      if !dns.options.isEmpty { lines.append("options " + dns.options.joined(separator: " ")) }
      return lines.joined(separator: "\n") + "\n"
    }
    guard let data = FileManager.default.contents(atPath: hostResolvConf) else { return "" }
    let kept = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
      .filter { line in
        let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard !hostNetwork, f.count >= 2, f[0] == "nameserver" else { return true }
        return !isLocalhost(String(f[1]))
      }
    var text = kept.joined(separator: "\n")
    if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
    return text
  }

  /// Servers must be IP addresses, search domains and options single words.
  public static func validate(_ dns: DNSConfig) throws {
    for s in dns.servers where !isIPAddress(s) {
      throw LiftoffError.invalidArgument("dns config: server \"\(s)\" is not an ip address")
    }
    for v in dns.searches + dns.options where v.isEmpty || v.contains(where: { $0.isWhitespace }) {
      throw LiftoffError.invalidArgument("dns config: search domain or option \"\(v)\" is empty or has whitespace")
    }
  }

  /// hosts text: localhost lines, then `<ip>\t<hostname>` for each of the pod's IPs.
  public static func hosts(hostname: String, ips: [String]) -> String {
    var s = """
      127.0.0.1\tlocalhost
      ::1\tlocalhost ip6-localhost ip6-loopback
      fe00::0\tip6-localnet
      fe00::0\tip6-mcastprefix
      fe00::1\tip6-allnodes
      fe00::2\tip6-allrouters

      """
    for ip in ips { s += "\(ip)\t\(hostname)\n" }
    return s
  }

  /// Writes resolv.conf, hosts and hostname into `dir` (each atomically) and returns their paths;
  /// the caller bind-mounts or copies them into the pod.
  @discardableResult
  public static func write(
    to dir: String, hostname: String, ips: [String], dns: DNSConfig?, hostResolvConf: String = "/etc/resolv.conf"
  ) throws -> (resolvConf: String, hosts: String, hostname: String) {
    try validateHostname(hostname)
    for ip in ips where !isIPAddress(ip) {
      throw LiftoffError.invalidArgument("pod ip \"\(ip)\" is not an ip address")
    }
    let resolv = try resolvConf(dns: dns, hostResolvConf: hostResolvConf)
    try FileSystem.makeDirectories(dir)
    let paths = (dir + "/resolv.conf", dir + "/hosts", dir + "/hostname")
    // Read only by the pod's apps while it runs (a machine crash ends the pod; gc removes the
    // directory): renamed into place, not fsynced — 1.5 ms of every sandbox's start.
    try FileSystem.writeAtomically(paths.0, resolv, mode: 0o644, durable: false)
    try FileSystem.writeAtomically(paths.1, hosts(hostname: hostname, ips: ips), mode: 0o644, durable: false)
    try FileSystem.writeAtomically(paths.2, hostname + "\n", mode: 0o644, durable: false)
    return paths
  }

  /// Writes a host-network pod's resolv.conf into `dir` (atomically) and returns its path: from
  /// `dns`, else the host's file as it is — what containerd gives every sandbox, so that a
  /// host-network pod's apps resolve as the sandbox config says, not as their image's file does.
  @discardableResult
  public static func writeHostNetwork(to dir: String, dns: DNSConfig?, hostResolvConf: String = "/etc/resolv.conf") throws -> String {
    let resolv = try resolvConf(dns: dns, hostResolvConf: hostResolvConf, hostNetwork: true)
    try FileSystem.makeDirectories(dir)
    let path = dir + "/resolv.conf"
    try FileSystem.writeAtomically(path, resolv, mode: 0o644, durable: false)
    return path
  }

  /// A hostname is 1–64 characters of letters, digits, '-' and '.' (what sethostname and DNS accept).
  public static func validateHostname(_ h: String) throws {
    let ok =
      !h.isEmpty && h.utf8.count <= 64
      && h.unicodeScalars.allSatisfy {
        ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "."
      }
    if !ok {
      throw LiftoffError.invalidArgument(
        "hostname \"\(h)\" must be 1 to 64 letters, digits, '-' or '.'")
    }
  }

  static func isIPAddress(_ s: String) -> Bool {
    var buf = in6_addr()
    return inet_pton(AF_INET, s, &buf) == 1 || inet_pton(AF_INET6, s, &buf) == 1
  }

  static func isLocalhost(_ s: String) -> Bool {
    var a4 = in_addr()
    if inet_pton(AF_INET, s, &a4) == 1 { return (UInt32(bigEndian: a4.s_addr) >> 24) == 127 }
    var a6 = in6_addr()
    if inet_pton(AF_INET6, s, &a6) == 1 {
      let b = withUnsafeBytes(of: &a6) { Array($0) }
      return b[0..<15].allSatisfy { $0 == 0 } && b[15] == 1
    }
    return false
  }
}
