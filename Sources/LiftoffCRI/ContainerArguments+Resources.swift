// The Linux resources of CreateContainer and UpdateContainerResources as the AppResources of
// `liftoff app add|update` requests. CRI's zero means "not set". CPU period and quota go as they are; memory+swap only when it differs from the memory limit (equal means no swap, the
// executor's default); hugepage limits of 0 are sent only where the host has the hugetlb controller
// (kubelet sends every page size, 0 when not requested). What the host cannot do is refused naming
// the field: `unified` on cgroup v1, a hugepage limit without hugetlb (by `liftoff`).
import LiftoffCore
import LiftoffOS
import LiftoffPod

extension ContainerArguments {
  /// The container's limits and oom_score_adj into the app.
  func resources(_ r: Runtime_V1_LinuxContainerResources, into o: inout AppOptions) throws {
    o.resources = try Self.resources(r, field: "config.linux.resources")
    if r.oomScoreAdj != 0 {
      guard (-1000...1000).contains(r.oomScoreAdj) else {
        throw LiftoffError.invalidArgument("config.linux.resources.oom_score_adj \(r.oomScoreAdj) is not in -1000…1000")
      }
      o.oomScoreAdj = Int(r.oomScoreAdj)
    }
  }

  /// The limits `app add` and `app update` share (everything but oom_score_adj).
  static func resources(_ r: Runtime_V1_LinuxContainerResources, field: String, cgroups: Cgroups = .host()) throws -> AppResources {
    var a = AppResources()
    if r.memoryLimitInBytes > 0 { a.memoryBytes = r.memoryLimitInBytes }
    if r.memorySwapLimitInBytes != 0 && r.memorySwapLimitInBytes != r.memoryLimitInBytes {
      guard r.memorySwapLimitInBytes == -1 || r.memorySwapLimitInBytes > 0 else {
        throw LiftoffError.invalidArgument("\(field).memory_swap_limit_in_bytes \(r.memorySwapLimitInBytes) is negative")
      }
      a.memorySwapBytes = r.memorySwapLimitInBytes
    }
    if r.cpuPeriod != 0 {
      guard (1000...1_000_000).contains(r.cpuPeriod) else {
        throw LiftoffError.invalidArgument("\(field).cpu_period \(r.cpuPeriod) is not in 1000…1000000")
      }
      a.cpuPeriodUs = r.cpuPeriod
    }
    if r.cpuQuota != 0 {
      guard r.cpuQuota == -1 || r.cpuQuota >= 1000 else {
        throw LiftoffError.invalidArgument("\(field).cpu_quota \(r.cpuQuota) is below 1000 µs (or -1 for none)")
      }
      a.cpuQuotaUs = r.cpuQuota
    }
    if r.cpuShares > 0 { a.cpuShares = min(max(r.cpuShares, 2), 262144) }
    if !r.cpusetCpus.isEmpty { a.cpusetCpus = r.cpusetCpus }
    if !r.cpusetMems.isEmpty { a.cpusetMems = r.cpusetMems }
    let hugetlb = cgroups.hasController("hugetlb")
    for h in r.hugepageLimits where h.limit > 0 || hugetlb {
      guard h.limit <= UInt64(Int64.max) else {
        throw LiftoffError.invalidArgument("\(field).hugepage_limits \(h.pageSize): limit \(h.limit) is too large")
      }
      a.hugepageLimits.removeAll { $0.pageSize == h.pageSize }
      a.hugepageLimits.append(.init(pageSize: h.pageSize, limitBytes: Int64(h.limit)))
    }
    if !r.unified.isEmpty && cgroups.version == .v1 {
      throw LiftoffError.invalidArgument("\(field).unified needs cgroup v2; this node runs cgroup v1")
    }
    for (key, value) in r.unified.sorted(by: { $0.key < $1.key }) {
      if let problem = AppResources.unifiedKeyProblem(key) {
        throw LiftoffError.invalidArgument("\(field).unified: key \"\(key)\" \(problem)")
      }
      a.unified[key] = value
    }
    return a
  }
}
