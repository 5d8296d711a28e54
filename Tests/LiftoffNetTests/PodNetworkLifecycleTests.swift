// attach/detach of a pod with the real plugins: namespace, address, files, and a clean detach (twice).
import Foundation
import LiftoffCore
import LiftoffTestSupport
import Testing

@testable import LiftoffNet

@Suite(.enabled(if: TestEnvironment.isRoot && FileManager.default.fileExists(atPath: "/usr/lib/cni/bridge"), "needs root and containernetworking-plugins"))
struct PodNetworkLifecycleTests {
  @Test func attachWritesFilesAndDetachCleansUp() throws {
    let tag = TestSupport.suffix(6)
    let root = try TestSupport.tempDir("life")
    let bridge = "ltlf" + tag
    defer {
      _ = try? TestSupport.run(["/sbin/ip", "link", "del", bridge])
      TestSupport.remove(root)
    }
    let prefix = "10.\(Int.random(in: 100...250)).\(Int.random(in: 0...255))"
    let cni = CNIManager(
      settings: CNISettings(
        confDir: root + "/conf", binDirs: ["/usr/lib/cni"], cacheDir: root + "/cache",
        defaultNetwork: DefaultNetwork(name: "lt" + tag, bridge: bridge, subnet: prefix + ".0/24", ipamDataDir: root + "/ipam")))
    let life = PodNetworkLifecycle(cni: cni)
    let podID = "lt\(tag)-0000-4000-8000-000000000001"
    let attached = try life.attach(
      .init(
        podID: podID, hostname: "pod-\(tag)", podNamespace: "t", podName: "p",
        dns: DNSConfig(servers: ["10.96.0.10"], searches: ["t.svc.cluster.local"], options: ["ndots:5"])),
      filesDir: root + "/pod/etc")
    var detached = false
    defer { if !detached { try? life.detach(podID: podID) } }
    #expect(attached.netnsPath == "/run/netns/liftoff-" + podID)
    #expect(NetworkNamespace.isNamespace(attached.netnsPath))
    let ip = try #require(attached.status.primaryIP)
    #expect(ip.hasPrefix(prefix + "."))
    #expect(TestSupport.read(attached.files.hosts).hasSuffix("\(ip)\tpod-\(tag)\n"))
    #expect(TestSupport.read(attached.files.hostname) == "pod-\(tag)\n")
    #expect(TestSupport.read(attached.files.resolvConf) == "search t.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n")
    // The node can reach the pod (the bridge is the pod's gateway).
    let ping = try TestSupport.run(["/bin/busybox", "ping", "-c", "1", "-W", "3", ip])
    #expect(ping.status == 0, "\(ping.stdout)\(ping.stderr)")
    #expect(try cni.podNetwork(containerID: podID)?.primaryIP == ip)

    try life.detach(podID: podID)
    detached = true
    try life.detach(podID: podID)
    #expect(!FileManager.default.fileExists(atPath: attached.netnsPath))
    #expect(try cni.podNetwork(containerID: podID) == nil)
    let ipam = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/ipam/lt" + tag)) ?? []).filter { $0.hasPrefix("10.") }
    #expect(ipam.isEmpty)
  }

  @Test func failedAttachLeavesNoNamespace() throws {
    let root = try TestSupport.tempDir("lifefail")
    defer { TestSupport.remove(root) }
    // No configuration and no default network: ADD cannot run.
    let life = PodNetworkLifecycle(
      cni: CNIManager(settings: CNISettings(confDir: root + "/conf", binDirs: [root], cacheDir: root + "/cache", defaultNetwork: nil)))
    let podID = "lt\(TestSupport.suffix(6))-fail"
    let error = try #require(throws: LiftoffError.self) {
      try life.attach(.init(podID: podID, hostname: "h"), filesDir: root + "/etc")
    }
    #expect(error.code == .failedPrecondition)
    #expect(!FileManager.default.fileExists(atPath: life.netnsPath(podID: podID)))
  }
}
