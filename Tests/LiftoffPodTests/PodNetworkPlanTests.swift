// network.json and ips.json: written with LiftoffCore.JSON now, and JSONEncoder before. Each build
// must read the other's files (a pod outlives the build that started it).
import Foundation
import LiftoffCore
import LiftoffNet
@testable import LiftoffPod
import Testing

struct PodNetworkPlanTests {
  static let full = PodNetworkPlan(
    network: "bench", portMappings: [.init(hostPort: 8080, containerPort: 80), .init(hostPort: 53, containerPort: 53, proto: "udp", hostIP: "127.0.0.1")],
    dns: DNSConfig(servers: ["10.0.0.10"], searches: ["svc.local"], options: ["ndots:5"]), podNamespace: "ns", podName: "web",
    podUID: "uid-1", extraArgs: ["K=V"], confDir: "/etc/cni/net.d", binDirs: ["/opt/cni/bin", "/usr/lib/cni"], defaultNetwork: false)

  func tempDir() throws -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-netplan-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: d + "/network", withIntermediateDirectories: true)
    return d
  }

  @Test func writtenAndReadBack() throws {
    let dir = try tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for plan in [Self.full, PodNetworkPlan()] {
      try plan.write(podDir: dir)
      #expect(try PodNetworkPlan.read(podDir: dir) == plan)
    }
  }

  @Test func filesJSONEncoderWroteAreRead() throws {
    let dir = try tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // What the Codable writer produced (sorted keys, every array, no "network" when nil).
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    for plan in [Self.full, PodNetworkPlan()] {
      try enc.encode(plan).write(to: URL(fileURLWithPath: PodNetworkPlan.file(podDir: dir)))
      #expect(try PodNetworkPlan.read(podDir: dir) == plan)
      // And the new writer's bytes decode with JSONDecoder as before (an older build reading them).
      try plan.write(podDir: dir)
      let data = try Data(contentsOf: URL(fileURLWithPath: PodNetworkPlan.file(podDir: dir)))
      #expect(try JSONDecoder().decode(PodNetworkPlan.self, from: data) == plan)
    }
    try Data(#"["10.88.0.5","fd00::5"]"#.utf8).write(to: URL(fileURLWithPath: PodNetworkPlan.ipsFile(podDir: dir)))
    #expect(PodNetworkPlan.ips(podDir: dir) == ["10.88.0.5", "fd00::5"])
  }

  @Test func aDamagedFileIsAnErrorNamingIt() throws {
    let dir = try tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Data(#"{"confDir": "/etc/cni/net.d", "binDirs": [], "surprise": 1}"#.utf8).write(to: URL(fileURLWithPath: PodNetworkPlan.file(podDir: dir)))
    #expect { try PodNetworkPlan.read(podDir: dir) } throws: { "\($0)".contains("network.json") && "\($0)".contains("surprise") }
  }
}
