// Pod networking with Debian's real CNI plugins (/usr/lib/cni) on real network namespaces (root).
// Each test uses its own bridge, subnet, host-local data dir, conf dir and cache dir; traffic goes only
// to 127.0.0.1 and to addresses inside the namespaces the test made; masquerade stays off.
import Foundation
import LiftoffCore
import LiftoffTestSupport
import Testing

@testable import LiftoffNet

@Suite(.enabled(if: TestEnvironment.isRoot && FileManager.default.fileExists(atPath: "/usr/lib/cni/bridge"), "needs root and containernetworking-plugins"))
struct CNIBridgeTests {
  static let busybox = "/bin/busybox"
  static let nsenter = "/usr/bin/nsenter"

  /// One test's private network: bridge, subnet, dirs; `close()` removes all of it.
  final class Net: @unchecked Sendable {
    let tag = TestSupport.suffix(6)
    let root: String
    let bridge: String
    let subnet: String
    let prefix: String  // first three octets of the /24
    var namespaces: [String] = []

    init() throws {
      root = try TestSupport.tempDir("bridge")
      bridge = "ltbr" + tag
      let a = Int.random(in: 100...250)
      let b = Int.random(in: 0...255)
      prefix = "10.\(a).\(b)"
      subnet = prefix + ".0/24"
      for d in ["conf", "cache", "ipam", "bin"] {
        try FileManager.default.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
      }
    }

    var ipamDir: String { root + "/ipam" }
    var defaultNetwork: DefaultNetwork {
      DefaultNetwork(name: "lt" + tag, bridge: bridge, subnet: subnet, ipMasq: false, ipamDataDir: ipamDir)
    }

    func manager(binDirs: [String] = ["/usr/lib/cni"], embedded: Bool = true) -> CNIManager {
      CNIManager(
        settings: CNISettings(
          confDir: root + "/conf", binDirs: binDirs, cacheDir: root + "/cache", pluginTimeout: 30,
          defaultNetwork: embedded ? defaultNetwork : nil))
    }

    func namespace(_ n: String) throws -> String {
      let p = try NetworkNamespace.create(name: "lt\(tag)-\(n)")
      namespaces.append(p)
      return p
    }

    /// IP allocations host-local holds (files named after addresses).
    func allocations() -> [String] {
      let dir = ipamDir + "/lt" + tag
      return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("10.") }
    }

    func vethsOnBridge() throws -> [String] {
      let r = try TestSupport.run(["/sbin/ip", "-o", "link", "show", "master", bridge])
      return r.stdout.split(separator: "\n").map(String.init)
    }

    func close() {
      for ns in namespaces { try? NetworkNamespace.remove(ns) }
      _ = try? TestSupport.run(["/sbin/ip", "link", "del", bridge])
      TestSupport.remove(root)
    }
  }

  static func iptablesRules(mentioning s: String) throws -> [String] {
    var lines: [String] = []
    for table in ["nat", "filter"] {
      let r = try TestSupport.run(["/usr/sbin/iptables-save", "-t", table], check: true)
      lines += r.stdout.split(separator: "\n").map(String.init).filter { $0.contains(s) }
    }
    return lines
  }

  /// The names of portmap's per-pod DNAT chains that exist now, among those of `containerIDs` on
  /// `network` (portmap names them "CNI-DN-" + sha512(network + container id), cut to 28 characters).
  static func dnatChains(network: String, containerIDs: [String]) throws -> [String] {
    let script = containerIDs.map { "printf '%s' '\(network)\($0)' | sha512sum | cut -c1-21" }.joined(separator: "\n")
    let hashes = try TestSupport.sh(script, check: true).stdout.split(separator: "\n").map { "CNI-DN-" + $0 }
    let nat = try TestSupport.run(["/usr/sbin/iptables-save", "-t", "nat"], check: true).stdout
    let existing = Set(nat.split(separator: "\n").filter { $0.hasPrefix(":CNI-DN-") }.map { String($0.dropFirst().prefix(28)) })
    return hashes.filter { existing.contains($0) }
  }

  @Test func twoPodsOnTheBridgeReachEachOther() throws {
    let net = try Net()
    defer { net.close() }
    // A conf dir file this time (the embedded network is covered below).
    let list: JSON = [
      "cniVersion": "1.0.0", "name": .string("lt" + net.tag),
      "plugins": [
        [
          "type": "bridge", "bridge": .string(net.bridge), "isGateway": true, "ipMasq": false,
          "ipam": ["type": "host-local", "ranges": [[["subnet": .string(net.subnet)]]], "dataDir": .string(net.ipamDir)],
        ],
        ["type": "loopback"],
      ],
    ]
    try TestSupport.write(list.serialized(), to: net.root + "/conf/10-test.conflist")
    let m = net.manager(embedded: false)
    #expect(m.networkStatus() == .ok)
    let nsA = try net.namespace("a")
    let nsB = try net.namespace("b")
    let a = try m.setUp(PodNetworkRequest(containerID: "lt\(net.tag)a", netnsPath: nsA, podNamespace: "t", podName: "a"))
    let b = try m.setUp(PodNetworkRequest(containerID: "lt\(net.tag)b", netnsPath: nsB, podNamespace: "t", podName: "b"))
    let ipA = try #require(a.primaryIP)
    let ipB = try #require(b.primaryIP)
    #expect(ipA.hasPrefix(net.prefix + "."))
    #expect(ipB.hasPrefix(net.prefix + "."))
    #expect(ipA != ipB)
    #expect(a.additionalIPs.isEmpty)
    #expect(try net.vethsOnBridge().count == 2)

    let ping = try TestSupport.run([Self.nsenter, "--net=" + nsA, Self.busybox, "ping", "-c", "1", "-W", "3", ipB])
    #expect(ping.status == 0, "\(ping.stdout) \(ping.stderr)")
    let back = try TestSupport.run([Self.nsenter, "--net=" + nsB, Self.busybox, "ping", "-c", "1", "-W", "3", ipA])
    #expect(back.status == 0, "\(back.stdout) \(back.stderr)")
    // loopback is up inside the pod, eth0 carries the address.
    let lo = try TestSupport.run([Self.nsenter, "--net=" + nsA, Self.busybox, "ping", "-c", "1", "-W", "2", "127.0.0.1"])
    #expect(lo.status == 0)
    let addr = try TestSupport.run([Self.nsenter, "--net=" + nsA, Self.busybox, "ip", "-o", "addr", "show", "eth0"], check: true)
    #expect(addr.stdout.contains(ipA + "/24"))
    try m.check(PodNetworkRequest(containerID: "lt\(net.tag)a", netnsPath: nsA))

    try m.tearDown(PodNetworkRequest(containerID: "lt\(net.tag)a", netnsPath: nsA))
    try m.tearDown(PodNetworkRequest(containerID: "lt\(net.tag)b", netnsPath: nsB))
    #expect(net.allocations().isEmpty)
    #expect(try net.vethsOnBridge().isEmpty)
  }

  @Test func hostPortOnLocalhostReachesAWebServerInThePod() throws {
    let net = try Net()
    defer { net.close() }
    let m = net.manager()  // empty conf dir: the embedded default network, on the test's bridge
    let ns = try net.namespace("web")
    let www = net.root + "/www"
    try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
    try TestSupport.write("hello from \(net.tag)\n", to: www + "/index.html")
    let cid = "lt\(net.tag)web"
    let hostPort = Int.random(in: 20000...29999)
    let pod = try m.setUp(
      PodNetworkRequest(
        containerID: cid, netnsPath: ns, podNamespace: "t", podName: "web",
        portMappings: [.init(hostPort: hostPort, containerPort: 8080, proto: "tcp", hostIP: "127.0.0.1")]))
    #expect(pod.networkName == "lt" + net.tag)
    #expect(!(try Self.iptablesRules(mentioning: cid)).isEmpty)

    let httpd = Process()
    httpd.executableURL = URL(fileURLWithPath: Self.nsenter)
    httpd.arguments = ["--net=" + ns, Self.busybox, "httpd", "-f", "-p", "8080", "-h", www]
    try httpd.run()
    defer {
      // SIGKILL: children of a test process inherit its blocked signal mask, so SIGTERM would wait.
      kill(httpd.processIdentifier, SIGKILL)
      httpd.waitUntilExit()
    }
    var body: String? = nil
    for _ in 0..<50 {
      body = TestSupport.httpGet(port: hostPort, path: "/index.html")
      if body != nil { break }
      usleep(100_000)
    }
    #expect(body?.hasPrefix("HTTP/1.") == true)
    #expect(body?.hasSuffix("\r\n\r\nhello from \(net.tag)\n") == true, "\(body ?? "no answer")")
    #expect(try Self.dnatChains(network: "lt" + net.tag, containerIDs: [cid]).count == 1)

    try m.tearDown(PodNetworkRequest(containerID: cid, netnsPath: ns))
    #expect(try Self.iptablesRules(mentioning: cid).isEmpty)
    #expect(try Self.dnatChains(network: "lt" + net.tag, containerIDs: [cid]).isEmpty)
    #expect(net.allocations().isEmpty)
  }

  @Test func delIsIdempotentWhenTheNamespaceIsGone() throws {
    let net = try Net()
    defer { net.close() }
    let m = net.manager()
    let ns = try net.namespace("gone")
    let cid = "lt\(net.tag)gone"
    try m.setUp(PodNetworkRequest(containerID: cid, netnsPath: ns, portMappings: [.init(hostPort: Int.random(in: 30000...39999), containerPort: 80)]))
    #expect(net.allocations().count == 1)
    try NetworkNamespace.remove(ns)  // the veth pair dies with the namespace
    try m.tearDown(PodNetworkRequest(containerID: cid, netnsPath: ns))
    try m.tearDown(PodNetworkRequest(containerID: cid, netnsPath: ns))
    #expect(net.allocations().isEmpty)
    #expect(try Self.iptablesRules(mentioning: cid).isEmpty)
    #expect(try net.vethsOnBridge().isEmpty)
  }

  @Test func failingPluginAfterTheBridgeLeaksNothing() throws {
    let net = try Net()
    defer { net.close() }
    try TestSupport.writePlugin(
      net.root + "/bin", "lt-fail",
      """
      cat >/dev/null
      [ "$CNI_COMMAND" = ADD ] || exit 0
      echo '{"cniVersion":"1.0.0","code":111,"msg":"policy refused the pod","details":"namespace t is quarantined"}'
      exit 1

      """)
    let list: JSON = [
      "cniVersion": "1.0.0", "name": .string("lt" + net.tag),
      "plugins": [
        [
          "type": "bridge", "bridge": .string(net.bridge), "ipMasq": false,
          "ipam": ["type": "host-local", "ranges": [[["subnet": .string(net.subnet)]]], "dataDir": .string(net.ipamDir)],
        ],
        ["type": "lt-fail"],
      ],
    ]
    try TestSupport.write(list.serialized(), to: net.root + "/conf/10-fail.conflist")
    let m = net.manager(binDirs: [net.root + "/bin", "/usr/lib/cni"], embedded: false)
    let ns = try net.namespace("f")
    let error = try #require(throws: LiftoffError.self) {
      try m.setUp(PodNetworkRequest(containerID: "lt\(net.tag)f", netnsPath: ns))
    }
    #expect(error.message.contains("policy refused the pod: namespace t is quarantined (cni error code 111)"), "\(error)")
    #expect(net.allocations().isEmpty)
    #expect(try net.vethsOnBridge().isEmpty)
    let links = try TestSupport.run([Self.nsenter, "--net=" + ns, Self.busybox, "ip", "-o", "link"], check: true)
    #expect(!links.stdout.contains("eth0"))
    #expect(try m.podNetwork(containerID: "lt\(net.tag)f") == nil)
  }

  @Test func twoHundredCyclesLeaveNothingBehind() throws {
    let net = try Net()
    defer { net.close() }
    let m = net.manager()
    let hostPort = Int.random(in: 40000...49999)
    func cycle(_ i: Int) throws {
      let ns = try NetworkNamespace.create(name: "lt\(net.tag)-c\(i)")
      defer { try? NetworkNamespace.remove(ns) }
      let req = PodNetworkRequest(
        containerID: "lt\(net.tag)c\(i)", netnsPath: ns, podNamespace: "t", podName: "c\(i)",
        portMappings: [.init(hostPort: hostPort, containerPort: 80, hostIP: "127.0.0.1")])
      let pod = try m.setUp(req)
      #expect(pod.primaryIP?.hasPrefix(net.prefix + ".") == true)
      try m.tearDown(req)
      try NetworkNamespace.remove(ns)
    }
    // Other tests may run at the same time, so what is counted is what belongs to this test: IP
    // allocations in its host-local dir, veths on its bridge, iptables rules naming its pods,
    // portmap chains of its pods, namespaces with its prefix, cache records in its cache dir.
    for i in 0..<200 { try cycle(i) }
    #expect(net.allocations().isEmpty)
    #expect(try net.vethsOnBridge().isEmpty)
    #expect(try Self.iptablesRules(mentioning: "lt\(net.tag)").isEmpty)
    #expect(try Self.dnatChains(network: "lt" + net.tag, containerIDs: (0..<200).map { "lt\(net.tag)c\($0)" }).isEmpty)
    let left = ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix("lt\(net.tag)") }
    #expect(left.isEmpty)
    let cached = (FileManager.default.enumerator(atPath: net.root + "/cache")?.allObjects as? [String] ?? [])
    #expect(cached.filter { $0.hasSuffix(".json") }.isEmpty)
  }
}
