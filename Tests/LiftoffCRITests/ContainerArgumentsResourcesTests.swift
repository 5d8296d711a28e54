// CRI LinuxContainerResources → `liftoff app add|update` flags, on fake cgroup hierarchies (with and
// without the hugetlb controller, v1 and v2): pure mapping, no server.
import Foundation
import LiftoffCore
import LiftoffOS
import Testing

@testable import LiftoffCRI

@Suite struct ContainerArgumentsResourcesTests {
  func fakeCgroups(_ version: Cgroups.Version, hugetlb: Bool) throws -> (Cgroups, String) {
    let root = "/tmp/liftoff-critest-cg-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    if hugetlb { try FileManager.default.createDirectory(atPath: root + "/hugetlb", withIntermediateDirectories: true) }
    if version == .v2 { try "cpu memory pids\(hugetlb ? " hugetlb" : "")\n".write(toFile: root + "/cgroup.controllers", atomically: true, encoding: .utf8) }
    return (Cgroups(root: root, version: version), root)
  }

  func resources(_ edit: (inout Runtime_V1_LinuxContainerResources) -> Void) -> Runtime_V1_LinuxContainerResources {
    var r = Runtime_V1_LinuxContainerResources()
    edit(&r)
    return r
  }

  func huge(_ size: String, _ limit: UInt64) -> Runtime_V1_HugepageLimit {
    var h = Runtime_V1_HugepageLimit()
    h.pageSize = size
    h.limit = limit
    return h
  }

  @Test func mapsEveryFieldAndSkipsWhatMeansUnset() throws {
    let (cg, root) = try fakeCgroups(.v1, hugetlb: false)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let r = resources {
      $0.memoryLimitInBytes = 64 << 20
      $0.memorySwapLimitInBytes = 64 << 20  // = memory: no swap, the default: no flag
      $0.cpuPeriod = 100_000
      $0.cpuQuota = 50_000
      $0.cpuShares = 1  // clamped to the kernel's minimum
      $0.cpusetCpus = "0-1"
      $0.cpusetMems = "0"
      $0.hugepageLimits = [huge("2MB", 0), huge("1GB", 0)]  // kubelet's "not requested"
    }
    let rendered = try flags(r, field: "f", cgroups: cg)
    #expect(
      rendered == [
        "--memory", String(64 << 20), "--cpu-period", "100000", "--cpu-quota", "50000", "--cpu-shares", "2",
        "--cpuset-cpus", "0-1", "--cpuset-mems", "0",
      ])
    #expect(try flags(Runtime_V1_LinuxContainerResources(), field: "f", cgroups: cg).isEmpty)
    let swap = try flags(resources { $0.memoryLimitInBytes = 1 << 30; $0.memorySwapLimitInBytes = -1 }, field: "f", cgroups: cg)
    #expect(swap == ["--memory", String(1 << 30), "--memory-swap", "-1"])
    // A hugepage limit asked for where the host has no hugetlb is passed on (and refused by liftoff).
    let asked = try flags(resources { $0.hugepageLimits = [huge("2MB", 2 << 20)] }, field: "f", cgroups: cg)
    #expect(asked == ["--hugepage", "2MB=\(2 << 20)"])
  }

  @Test func hugetlbHostsGetZeroLimitsAndBadValuesNameTheField() throws {
    let (cg, root) = try fakeCgroups(.v1, hugetlb: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let zero = try flags(resources { $0.hugepageLimits = [huge("2MB", 0)] }, field: "f", cgroups: cg)
    #expect(zero == ["--hugepage", "2MB=0"])
    func message(_ r: Runtime_V1_LinuxContainerResources) -> String {
      do {
        _ = try flags(r, field: "linux", cgroups: cg)
        return ""
      } catch { return "\(error)" }
    }
    #expect(message(resources { $0.cpuPeriod = 10 }).contains("linux.cpu_period"))
    #expect(message(resources { $0.cpuQuota = 5 }).contains("linux.cpu_quota"))
    #expect(message(resources { $0.memorySwapLimitInBytes = -5 }).contains("linux.memory_swap_limit_in_bytes"))
    #expect(message(resources { $0.unified = ["memory.high": "1"] }).contains("linux.unified needs cgroup v2"))
    let (v2, root2) = try fakeCgroups(.v2, hugetlb: false)
    defer { try? FileManager.default.removeItem(atPath: root2) }
    #expect(
      try flags(resources { $0.unified = ["memory.high": "64M", "io.weight": "50"] }, field: "linux", cgroups: v2)
        == ["--unified", "io.weight=50", "--unified", "memory.high=64M"])
    #expect {
      _ = try flags(resources { $0.unified = ["cgroup.procs": "1"] }, field: "linux", cgroups: v2)
    } throws: { "\($0)".contains("linux.unified: key \"cgroup.procs\" would move processes") }
    #expect {
      _ = try flags(resources { $0.unified = ["../memory.max": "1"] }, field: "linux", cgroups: v2)
    } throws: { "\($0)".contains("is not a cgroup file name") }
  }

  /// The limits in the flag form of `liftoff app update`, for short expectations.
  func flags(_ r: Runtime_V1_LinuxContainerResources, field: String, cgroups: Cgroups) throws -> [String] {
    let a = try ContainerArguments.resources(r, field: field, cgroups: cgroups)
    var f: [String] = []
    if let v = a.memoryBytes { f += ["--memory", String(v)] }
    if let v = a.memorySwapBytes { f += ["--memory-swap", String(v)] }
    if let v = a.cpuPeriodUs { f += ["--cpu-period", String(v)] }
    if let v = a.cpuQuotaUs { f += ["--cpu-quota", String(v)] }
    if let v = a.cpuShares { f += ["--cpu-shares", String(v)] }
    if let v = a.cpusetCpus { f += ["--cpuset-cpus", v] }
    if let v = a.cpusetMems { f += ["--cpuset-mems", v] }
    for h in a.hugepageLimits { f += ["--hugepage", "\(h.pageSize)=\(h.limitBytes)"] }
    for (k, v) in a.unified.sorted(by: { $0.key < $1.key }) { f += ["--unified", "\(k)=\(v)"] }
    return f
  }
}
