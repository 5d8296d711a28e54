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
//   swapUsage          memory.memsw.usage_in_bytes − usage         memory.swap.current
//   swapLimit          memory.memsw.limit_in_bytes − limit (nil    memory.swap.max (nil for "max")
//                      when either is unlimited)
//   cpu/memory/ioPressure  (none)                                  cpu.pressure, memory.pressure,
//                                                                  io.pressure (PSI, where the kernel has it)
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
  public var swapUsage: UInt64?
  public var swapLimit: UInt64?
  public var cpuPressure: Pressure?
  public var memoryPressure: Pressure?
  public var ioPressure: Pressure?

  public init() {}
}

/// A cgroup v2 pressure file (PSI, Documentation/accounting/psi.rst):
/// `some avg10=0.12 avg60=0.05 avg300=0.01 total=123456` and a `full …` line; total in µs.
public struct Pressure: Codable, Sendable, Equatable {
  public struct Line: Codable, Sendable, Equatable {
    public var avg10: Double
    public var avg60: Double
    public var avg300: Double
    /// Stall time in microseconds since the group was made.
    public var total: UInt64
    public init(avg10: Double, avg60: Double, avg300: Double, total: UInt64) {
      self.avg10 = avg10
      self.avg60 = avg60
      self.avg300 = avg300
      self.total = total
    }
  }
  public var some: Line?
  public var full: Line?

  public init(some: Line? = nil, full: Line? = nil) {
    self.some = some
    self.full = full
  }

  /// Parses a pressure file's text; nil when it has neither line.
  public static func parse(_ text: String) -> Pressure? {
    var p = Pressure()
    for line in text.split(separator: "\n") {
      let f = line.split(separator: " ")
      guard let kind = f.first, kind == "some" || kind == "full" else { continue }
      var v: [Substring: Substring] = [:]
      for kv in f.dropFirst() {
        let pair = kv.split(separator: "=", maxSplits: 1)
        if pair.count == 2 { v[pair[0]] = pair[1] }
      }
      guard let a10 = v["avg10"].flatMap({ Double($0) }), let a60 = v["avg60"].flatMap({ Double($0) }),
        let a300 = v["avg300"].flatMap({ Double($0) }), let total = v["total"].flatMap({ UInt64($0) })
      else { continue }
      let l = Line(avg10: a10, avg60: a60, avg300: a300, total: total)
      if kind == "some" { p.some = l } else { p.full = l }
    }
    return p.some == nil && p.full == nil ? nil : p
  }
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
      if let usage = s.memoryUsage, let memsw = Self.number(memory + "/memory.memsw.usage_in_bytes") {
        s.swapUsage = memsw > usage ? memsw - usage : 0
        if let limit = s.memoryLimit, let memswLimit = Self.number(memory + "/memory.memsw.limit_in_bytes"), memswLimit < (1 << 62) {
          s.swapLimit = memswLimit > limit ? memswLimit - limit : 0
        }
      }
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
      s.swapUsage = Self.number(dir + "/memory.swap.current")
      s.swapLimit = Self.number(dir + "/memory.swap.max")
      s.cpuPressure = (try? FileSystem.readString(dir + "/cpu.pressure")).flatMap(Pressure.parse)
      s.memoryPressure = (try? FileSystem.readString(dir + "/memory.pressure")).flatMap(Pressure.parse)
      s.ioPressure = (try? FileSystem.readString(dir + "/io.pressure")).flatMap(Pressure.parse)
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
