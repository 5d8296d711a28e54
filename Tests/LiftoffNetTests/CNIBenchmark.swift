// Not a test: the measurement behind hack/bench-cni.sh, enabled only when LIFTOFF_BENCH_CNI_RUNS is set.
// Times, per simulated pod, netns creation, CNI ADD and DEL of the embedded default network (bridge,
// host-local, portmap with one hostPort on 127.0.0.1, loopback) and netns removal; prints medians.
// Asserts nothing about time.
import LiftoffOS
import Foundation
import LiftoffTestSupport
import Testing

@testable import LiftoffNet

@Suite struct CNIBenchmark {
  static let runs = Int(ProcessInfo.processInfo.environment["LIFTOFF_BENCH_CNI_RUNS"] ?? "") ?? 0

  @Test(.enabled(if: runs > 0 && TestEnvironment.isRoot, "set LIFTOFF_BENCH_CNI_RUNS=N and run as root"))
  func addDelPerPod() throws {
    let tag = TestSupport.suffix(6)
    let root = try TestSupport.tempDir("bench")
    let bridge = "ltbb" + tag
    defer {
      _ = try? TestSupport.run(["/sbin/ip", "link", "del", bridge])
      TestSupport.remove(root)
    }
    let withPort = ProcessInfo.processInfo.environment["LIFTOFF_BENCH_CNI_PORTMAP"] != "0"
    let m = CNIManager(
      settings: CNISettings(
        confDir: root + "/conf", binDirs: ["/usr/lib/cni"], cacheDir: root + "/cache",
        defaultNetwork: DefaultNetwork(
          name: "ltb" + tag, bridge: bridge, subnet: "10.\(Int.random(in: 100...250)).\(Int.random(in: 0...255)).0/24",
          ipamDataDir: root + "/ipam")))
    var create: [Double] = []
    var add: [Double] = []
    var del: [Double] = []
    var remove: [Double] = []
    for i in 0...Self.runs {  // run 0 warms up (creates the bridge and shared chains) and is not counted
      var t = Clock.monotonic()
      let ns = try NetworkNamespace.create(name: "ltb\(tag)-\(i)")
      let t1 = Clock.monotonic()
      let req = PodNetworkRequest(
        containerID: "ltb\(tag)\(i)", netnsPath: ns, podNamespace: "bench", podName: "p\(i)",
        portMappings: withPort ? [.init(hostPort: 45000 + i % 1000, containerPort: 80, hostIP: "127.0.0.1")] : [])
      try m.setUp(req)
      let t2 = Clock.monotonic()
      try m.tearDown(req)
      let t3 = Clock.monotonic()
      try NetworkNamespace.remove(ns)
      let t4 = Clock.monotonic()
      if i > 0 {
        create.append(t1 - t); add.append(t2 - t1); del.append(t3 - t2); remove.append(t4 - t3)
      }
      t = t4
    }
    func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] * 1000 }
    func p90(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[min(s.count - 1, s.count * 9 / 10)] * 1000 }
    let total = zip(zip(create, add), zip(del, remove)).map { $0.0 + $0.1 + $1.0 + $1.1 }
    let line = String(
      format:
        "{\"runs\":%d,\"portmap\":%@,\"netns_create_ms\":%.2f,\"cni_add_ms\":%.2f,\"cni_del_ms\":%.2f,\"netns_remove_ms\":%.2f,\"total_median_ms\":%.2f,\"total_p90_ms\":%.2f}",
      Self.runs, withPort ? "true" : "false", median(create), median(add), median(del), median(remove), median(total),
      p90(total))
    print("BENCH-CNI " + line)
    if let out = ProcessInfo.processInfo.environment["LIFTOFF_BENCH_CNI_OUT"] {
      try (line + "\n").write(toFile: out, atomically: true, encoding: .utf8)
    }
  }
}
