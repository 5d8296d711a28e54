// resolv.conf, hosts and hostname rendering.
import Foundation
import LiftoffCore
import Testing

@testable import LiftoffNet

@Suite struct PodFilesTests {
  @Test func dnsConfigBecomesResolvConf() throws {
    let text = try PodFiles.resolvConf(
      dns: DNSConfig(servers: ["10.96.0.10", "fd00::10"], searches: ["ns.svc.cluster.local", "cluster.local"],
        options: ["ndots:5", "timeout:2"]))
    #expect(
      text
        == "search ns.svc.cluster.local cluster.local\nnameserver 10.96.0.10\nnameserver fd00::10\noptions ndots:5 timeout:2\n")
  }

  @Test func hostResolvConfLosesLocalhostNameservers() throws {
    let dir = try TestSupport.tempDir("resolv")
    defer { TestSupport.remove(dir) }
    try TestSupport.write(
      "# host\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n",
      to: dir + "/resolv.conf")
    let text = try PodFiles.resolvConf(dns: nil, hostResolvConf: dir + "/resolv.conf")
    #expect(text == "# host\nnameserver 192.0.2.53\nsearch example.org\noptions edns0\n")
    // An empty DNS config means "the host's".
    #expect(try PodFiles.resolvConf(dns: DNSConfig(), hostResolvConf: dir + "/resolv.conf") == text)
  }

  /// A host-network pod shares the host's network: the host's file as it is (localhost resolvers
  /// included), or the DNS config when it says anything.
  @Test func hostNetworkResolvConfKeepsTheHostsFileOrTakesTheConfig() throws {
    let dir = try TestSupport.tempDir("resolvhost")
    defer { TestSupport.remove(dir) }
    let host = "# host\nnameserver 127.0.0.53\nsearch example.org\n"
    try TestSupport.write(host, to: dir + "/host-resolv.conf")
    let path = try PodFiles.writeHostNetwork(to: dir + "/pod", dns: nil, hostResolvConf: dir + "/host-resolv.conf")
    #expect(path == dir + "/pod/resolv.conf")
    #expect(try String(contentsOfFile: path, encoding: .utf8) == host)
    try PodFiles.writeHostNetwork(
      to: dir + "/pod", dns: DNSConfig(servers: ["10.10.10.10"], searches: ["google.com"], options: ["ndots:8"]),
      hostResolvConf: dir + "/host-resolv.conf")
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "search google.com\nnameserver 10.10.10.10\noptions ndots:8\n")
    #expect(throws: LiftoffError.self) { try PodFiles.writeHostNetwork(to: dir + "/pod", dns: DNSConfig(servers: ["resolver"])) }
  }

  @Test func badDNSConfigIsRejected() {
    #expect(throws: LiftoffError.self) { try PodFiles.resolvConf(dns: DNSConfig(servers: ["dns.example"])) }
    #expect(throws: LiftoffError.self) {
      try PodFiles.resolvConf(dns: DNSConfig(servers: ["10.0.0.1"], searches: ["a\nnameserver 6.6.6.6"]))
    }
  }

  @Test func filesAreWrittenWithHostnameAndIPs() throws {
    let dir = try TestSupport.tempDir("podfiles")
    defer { TestSupport.remove(dir) }
    let paths = try PodFiles.write(
      to: dir + "/etc", hostname: "web-0", ips: ["10.88.0.7", "fd00::7"],
      dns: DNSConfig(servers: ["10.96.0.10"], searches: ["svc.local"], options: ["ndots:2"]))
    #expect(TestSupport.read(paths.hostname) == "web-0\n")
    let hosts = TestSupport.read(paths.hosts)
    #expect(hosts.hasPrefix("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"))
    #expect(hosts.hasSuffix("10.88.0.7\tweb-0\nfd00::7\tweb-0\n"))
    #expect(TestSupport.read(paths.resolvConf) == "search svc.local\nnameserver 10.96.0.10\noptions ndots:2\n")
    #expect(throws: LiftoffError.self) { try PodFiles.write(to: dir, hostname: "bad name", ips: [], dns: nil) }
    #expect(throws: LiftoffError.self) { try PodFiles.write(to: dir, hostname: "ok", ips: ["10.0.0.300"], dns: nil) }
  }
}
