import Foundation
import LiftoffOS

// Test support shared by the root integration suites (LiftoffPodTests, LiftoffCRITests).

/// One pod's or app's cgroup on this host, read through the kernel's own files in the words of the
/// interface the host has: cgroup v1 (one directory per controller: this test machine) or v2 (one
/// unified group: the VM, hack/vm). Tests that check limits and usage say what they expect once and run
/// on both.
public struct GroupFiles {
  public let cg: Cgroups
  public let pod: String
  public let app: String?

  public init(_ cg: Cgroups, pod: String, app: String? = nil) {
    self.cg = cg
    self.pod = pod
    self.app = app
  }

  public var isV2: Bool { cg.version == .v2 }

  /// A control file's text, trimmed ("" when it cannot be read).
  public func read(_ controller: String, _ file: String) -> String {
    let path = cg.directory(controller, pod: pod, app: app) + "/" + file
    return ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
  }

  public func exists(_ controller: String, _ file: String) -> Bool {
    FileSystem.exists(cg.directory(controller, pod: pod, app: app) + "/" + file)
  }

  /// v1 memory.limit_in_bytes, v2 memory.max.
  public var memoryLimit: String { isV2 ? read("memory", "memory.max") : read("memory", "memory.limit_in_bytes") }

  /// Memory + swap as v1 counts it (memory.memsw.limit_in_bytes); on v2 memory.max + memory.swap.max.
  public var memoryAndSwapLimit: String {
    guard isV2 else { return read("memory", "memory.memsw.limit_in_bytes") }
    guard let m = Int64(read("memory", "memory.max")), let s = Int64(read("memory", "memory.swap.max")) else { return "" }
    return String(m + s)
  }

  /// Can a swap limit be set here (v1 swap accounting, v2 memory.swap.max)?
  public var hasSwapLimit: Bool { isV2 ? exists("memory", "memory.swap.max") : exists("memory", "memory.memsw.limit_in_bytes") }

  /// CFS quota and period as "QUOTA PERIOD": v1 cpu.cfs_quota_us and cpu.cfs_period_us, v2 cpu.max
  /// (whose "max" is v1's -1).
  public var cpuQuotaPeriod: String {
    guard isV2 else { return "\(read("cpu", "cpu.cfs_quota_us")) \(read("cpu", "cpu.cfs_period_us"))" }
    let max = read("cpu", "cpu.max")
    return max.hasPrefix("max ") ? "-1 " + max.dropFirst(4) : max
  }

  /// The CPU weight for CRI shares: v1 cpu.shares as given, v2 cpu.weight converted as runc does.
  public func expectedWeight(shares: Int64) -> String { isV2 ? String(Cgroups.weight(shares: shares)) : String(shares) }
  public var cpuWeight: String { isV2 ? read("cpu", "cpu.weight") : read("cpu", "cpu.shares") }

  public var pidsMax: String { read("pids", "pids.max") }

  /// Cumulative CPU time in ns: v1 cpuacct.usage, v2 cpu.stat usage_usec × 1000.
  public var cpuUsageNanos: UInt64 {
    if !isV2 { return UInt64(read("cpuacct", "cpuacct.usage")) ?? 0 }
    for line in read("cpu", "cpu.stat").split(separator: "\n") where line.hasPrefix("usage_usec ") {
      return (UInt64(line.dropFirst("usage_usec ".count)) ?? 0) * 1000
    }
    return 0
  }

  /// The group's directory (in the memory hierarchy on v1).
  public var directory: String { cg.directory("memory", pod: pod, app: app) }

  /// Removes the parent groups a test made (kubelet's to remove, here the test's), deepest first.
  public static func removeParents(_ host: Cgroups, _ levels: [String]) {
    let roots = host.version == .v2 ? [host.root] : host.controllers.map { "\(host.root)/\($0)" } + (host.unified.map { [$0] } ?? [])
    for r in roots { for level in levels { rmdir("\(r)/\(level)") } }
  }
}
