// Usage of a pod's or an app's cgroup, as kubelet's stats want it (the numbers cAdvisor reads):
//
//   field              v1                                          v2
//   cpuUsageNanos      cpuacct/…/cpuacct.usage                     cpu.stat usage_usec × 1000
//   memoryUsage        memory/…/memory.usage_in_bytes              memory.current
//   workingSet         usage − memory.stat total_inactive_file     usage − memory.stat inactive_file
//   rss                memory.stat total_rss                       memory.stat anon
//   pageFaults         memory.stat total_pgfault                   memory.stat pgfault
//   majorPageFaults    memory.stat total_pgmajfault                memory.stat pgmajfault
//   memoryLimit        memory.limit_in_bytes (nil when unlimited)  memory.max (nil for "max")
//   pids               pids/…/pids.current                         pids.current
//
// A file that cannot be read gives nil for its fields (a group that is gone, a controller that is
// not there): stats never fail because one number is missing.
import Glibc
import LiftoffCore

public struct CgroupStats: Sendable, Equatable {
  public var cpuUsageNanos: UInt64?
  public var memoryUsage: UInt64?
  public var workingSet: UInt64?
  public var rss: UInt64?
  public var pageFaults: UInt64?
  public var majorPageFaults: UInt64?
  public var memoryLimit: UInt64?
  public var pids: UInt64?

  public init() {}
}

extension Cgroups {
  /// Usage of the app's group, or of the whole pod's group when `app` is nil (hierarchical totals).
  public func stats(pod: String, app: String? = nil) -> CgroupStats {
    var s = CgroupStats()
    switch version {
    case .v1:
      s.cpuUsageNanos = Self.number(directory("cpuacct", pod: pod, app: app) + "/cpuacct.usage")
      let memory = directory("memory", pod: pod, app: app)
      s.memoryUsage = Self.number(memory + "/memory.usage_in_bytes")
      let stat = Self.keyedValues(memory + "/memory.stat")
      if let usage = s.memoryUsage {
        let inactive = stat["total_inactive_file"] ?? 0
        s.workingSet = usage > inactive ? usage - inactive : 0
      }
      s.rss = stat["total_rss"]
      s.pageFaults = stat["total_pgfault"]
      s.majorPageFaults = stat["total_pgmajfault"]
      // v1 "unlimited" is PAGE_COUNTER_MAX pages: a number near Int64.max.
      s.memoryLimit = Self.number(memory + "/memory.limit_in_bytes").flatMap { $0 >= (1 << 62) ? nil : $0 }
      s.pids = Self.number(directory("pids", pod: pod, app: app) + "/pids.current")
    case .v2:
      let dir = directory("", pod: pod, app: app)
      s.cpuUsageNanos = Self.keyedValues(dir + "/cpu.stat")["usage_usec"].map { $0 * 1000 }
      s.memoryUsage = Self.number(dir + "/memory.current")
      let stat = Self.keyedValues(dir + "/memory.stat")
      if let usage = s.memoryUsage {
        let inactive = stat["inactive_file"] ?? 0
        s.workingSet = usage > inactive ? usage - inactive : 0
      }
      s.rss = stat["anon"]
      s.pageFaults = stat["pgfault"]
      s.majorPageFaults = stat["pgmajfault"]
      s.memoryLimit = Self.number(dir + "/memory.max")
      s.pids = Self.number(dir + "/pids.current")
    }
    return s
  }

  /// A file holding one unsigned number (nil when unreadable or not a number, e.g. "max").
  static func number(_ path: String) -> UInt64? {
    guard let text = try? FileSystem.readString(path) else { return nil }
    return UInt64(trimmed(text))
  }

  /// Every `key value` line of a flat-keyed file (memory.stat, cpu.stat).
  public static func keyedValues(_ path: String) -> [String: UInt64] {
    guard let text = try? FileSystem.readString(path) else { return [:] }
    var out: [String: UInt64] = [:]
    for line in text.split(separator: "\n") {
      let f = line.split(separator: " ")
      if f.count == 2, let v = UInt64(f[1]) { out[String(f[0])] = v }
    }
    return out
  }
}
