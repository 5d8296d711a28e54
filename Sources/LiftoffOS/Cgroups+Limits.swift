// Writing an app's limits into its cgroup files: at create (stage1, before the app joins) and live
// (`liftoff app update`). Only the fields that are set are written; a write the kernel refuses is an
// error naming the file (e.g. a memory limit below what the group already uses: EBUSY).
//
//   field            v1 file                                   v2 file
//   memoryBytes      memory/…/memory.limit_in_bytes            memory.max
//   memorySwapBytes  memory/…/memory.memsw.limit_in_bytes      memory.swap.max (= swap − memory)
//   cpuPeriod/Quota  cpu/…/cpu.cfs_period_us, cpu.cfs_quota_us  cpu.max ("QUOTA PERIOD", "max")
//   cpuShares        cpu/…/cpu.shares                          cpu.weight (converted)
//   cpuset           cpuset/…/cpuset.cpus, cpuset.mems         cpuset.cpus, cpuset.mems
//   pidsMax          pids/…/pids.max                           pids.max
//   hugepageLimits   hugetlb/…/hugetlb.<size>.limit_in_bytes   hugetlb.<size>.max
//   unified          (refused)                                 each key's file, last
import Glibc
import LiftoffCore

extension Cgroups {
  /// Writes the limits that are set in `resources` into the app's existing cgroup.
  public func apply(pod: String, app: String?, resources r: AppResources) throws {
    let ctx = app.map { "app \($0)" } ?? "pod \(pod)"
    func need(_ controller: String, for what: String) throws {
      guard hasController(controller) else {
        let where_ = version == .v1 ? "mounted at \(root)/\(controller)" : "available in \(root)/cgroup.controllers"
        throw LiftoffError(.failedPrecondition, "\(ctx): \(what) needs the \(controller) cgroup controller, which is not \(where_) on this host")
      }
    }
    if r.memorySwapBytes != nil && version == .v1 {
      let f = directory("memory", pod: pod, app: app) + "/memory.memsw.limit_in_bytes"
      guard FileSystem.exists(f) else {
        throw LiftoffError(.failedPrecondition, "\(ctx): a swap limit needs swap accounting (\(f) is missing)")
      }
    }
    if r.cpusetCpus != nil || r.cpusetMems != nil { try need("cpuset", for: "a cpuset") }
    if !r.hugepageLimits.isEmpty { try need("hugetlb", for: "a hugepage limit") }
    try checkUnified(r, ctx)
    switch version {
    case .v1: try applyV1(pod: pod, app: app, r)
    case .v2: try applyV2(pod: pod, app: app, r)
    }
  }

  /// `unified` keys are cgroup v2 files: refused on v1 (before anything is recorded or written).
  public func checkUnified(_ r: AppResources, _ ctx: String) throws(LiftoffError) {
    if !r.unified.isEmpty && version == .v1 {
      throw .init(.failedPrecondition, "\(ctx): unified keys need cgroup v2; this host runs cgroup v1")
    }
  }

  private func applyV1(pod: String, app: String?, _ r: AppResources) throws {
    let memory = directory("memory", pod: pod, app: app)
    let limitFile = "\(memory)/memory.limit_in_bytes"
    let memswFile = "\(memory)/memory.memsw.limit_in_bytes"
    if r.memoryBytes != nil || r.memorySwapBytes != nil {
      // The kernel keeps limit ≤ memsw at every step: raise memsw before the limit, lower it after.
      // Without an explicit swap limit, memsw = limit (no swap), as before.
      let memsw: Int64? = FileSystem.exists(memswFile) ? (r.memorySwapBytes ?? r.memoryBytes) : nil
      let currentLimit = Int64(Self.trimmed((try? FileSystem.readString(limitFile)) ?? "")) ?? Int64.max
      let memswFirst = memsw.map { $0 == -1 || $0 >= currentLimit } ?? false
      if memswFirst, let memsw { try FileSystem.writeControl(memswFile, String(memsw)) }
      if let m = r.memoryBytes { try FileSystem.writeControl(limitFile, String(m)) }
      if !memswFirst, let memsw { try FileSystem.writeControl(memswFile, String(memsw)) }
    }
    let cpu = directory("cpu", pod: pod, app: app)
    if let shares = r.cpuShares { try FileSystem.writeControl("\(cpu)/cpu.shares", String(shares)) }
    if let period = r.effectiveCPUPeriodUs {
      // The kernel checks quota/period together: drop the old quota first so any period is accepted.
      if r.effectiveCPUQuotaUs != nil { try FileSystem.writeControl("\(cpu)/cpu.cfs_quota_us", "-1") }
      try FileSystem.writeControl("\(cpu)/cpu.cfs_period_us", String(period))
    }
    if let quota = r.effectiveCPUQuotaUs { try FileSystem.writeControl("\(cpu)/cpu.cfs_quota_us", String(quota)) }
    let cpuset = directory("cpuset", pod: pod, app: app)
    if let mems = r.cpusetMems { try FileSystem.writeControl("\(cpuset)/cpuset.mems", mems) }
    if let cpus = r.cpusetCpus { try FileSystem.writeControl("\(cpuset)/cpuset.cpus", cpus) }
    if let p = r.pidsMax {
      try FileSystem.writeControl(directory("pids", pod: pod, app: app) + "/pids.max", p > 0 ? String(p) : "max")
    }
    for h in r.hugepageLimits {
      let f = directory("hugetlb", pod: pod, app: app) + "/hugetlb.\(h.pageSize).limit_in_bytes"
      guard FileSystem.exists(f) else {
        throw LiftoffError(.invalidArgument, "\(app.map { "app \($0)" } ?? "pod \(pod)"): hugepage size \(h.pageSize) is not supported on this host (\(f) is missing)")
      }
      try FileSystem.writeControl(f, String(h.limitBytes))
    }
  }

  private func applyV2(pod: String, app: String?, _ r: AppResources) throws {
    let dir = directory("", pod: pod, app: app)
    if let m = r.memoryBytes { try FileSystem.writeControl("\(dir)/memory.max", String(m)) }
    if FileSystem.exists("\(dir)/memory.swap.max") {
      if let s = r.memorySwapBytes {
        let swap = s == -1 ? "max" : String(max(0, s - (r.memoryBytes ?? s)))
        try FileSystem.writeControl("\(dir)/memory.swap.max", swap)
      } else if r.memoryBytes != nil {
        try FileSystem.writeControl("\(dir)/memory.swap.max", "0")
      }
    } else if r.memorySwapBytes != nil {
      throw LiftoffError(.failedPrecondition, "\(app.map { "app \($0)" } ?? "pod \(pod)"): a swap limit needs \(dir)/memory.swap.max, which is missing")
    }
    if let quota = r.effectiveCPUQuotaUs {
      let period = r.effectiveCPUPeriodUs ?? 100_000
      try FileSystem.writeControl("\(dir)/cpu.max", "\(quota < 0 ? "max" : String(quota)) \(period)")
    } else if let period = r.cpuPeriodUs {
      try FileSystem.writeControl("\(dir)/cpu.max", "max \(period)")
    }
    if let shares = r.cpuShares { try FileSystem.writeControl("\(dir)/cpu.weight", String(Self.weight(shares: shares))) }
    if let mems = r.cpusetMems { try FileSystem.writeControl("\(dir)/cpuset.mems", mems) }
    if let cpus = r.cpusetCpus { try FileSystem.writeControl("\(dir)/cpuset.cpus", cpus) }
    if let p = r.pidsMax { try FileSystem.writeControl("\(dir)/pids.max", p > 0 ? String(p) : "max") }
    for h in r.hugepageLimits {
      let f = "\(dir)/hugetlb.\(h.pageSize).max"
      guard FileSystem.exists(f) else {
        throw LiftoffError(.invalidArgument, "\(app.map { "app \($0)" } ?? "pod \(pod)"): hugepage size \(h.pageSize) is not supported on this host (\(f) is missing)")
      }
      try FileSystem.writeControl(f, String(h.limitBytes))
    }
    // As runc: written as given, after the typed fields (so they win); a key this group has no
    // file for (its controller not enabled here) is an error naming it.
    for (key, value) in r.unified.sorted(by: { $0.key < $1.key }) {
      if let problem = AppResources.unifiedKeyProblem(key) {
        throw LiftoffError(.invalidArgument, "unified key \"\(key)\" \(problem)")
      }
      let f = "\(dir)/\(key)"
      guard FileSystem.exists(f) else {
        throw LiftoffError(.invalidArgument, "\(app.map { "app \($0)" } ?? "pod \(pod)"): unified key \(key): \(f) does not exist (is its controller enabled?)")
      }
      try FileSystem.writeControl(f, value)
    }
  }
}
