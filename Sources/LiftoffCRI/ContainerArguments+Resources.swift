// The Linux resources of CreateContainer as app flags: memory limit, CPU quota over period (as
// millicores), CPU shares, oom_score_adj (raised to stage1's own where the host forbids lowering it). What the executor does not support yet is refused naming the field.
import LiftoffCore

extension ContainerArguments {
  func resourceArguments(_ r: Runtime_V1_LinuxContainerResources) throws -> [String] {
    var a: [String] = []
    let field = "config.linux.resources"
    if r.memoryLimitInBytes > 0 { a += ["--memory", String(r.memoryLimitInBytes)] }
    if r.cpuQuota > 0 {
      let period = r.cpuPeriod > 0 ? r.cpuPeriod : 100_000
      a += ["--cpu", "\(max(1, r.cpuQuota * 1000 / period))m"]
    }
    if r.cpuShares > 0 { a += ["--cpu-shares", String(min(max(r.cpuShares, 2), 262144))] }
    if r.oomScoreAdj != 0 {
      guard (-1000...1000).contains(r.oomScoreAdj) else {
        throw LiftoffError.invalidArgument("\(field).oom_score_adj \(r.oomScoreAdj) is not in -1000…1000")
      }
      a += ["--oom-score-adj", String(r.oomScoreAdj)]
    }
    if !r.cpusetCpus.isEmpty || !r.cpusetMems.isEmpty {
      throw LiftoffError(.unimplemented, "\(field).cpuset_cpus/cpuset_mems are not supported yet")
    }
    if r.hugepageLimits.contains(where: { $0.limit > 0 }) { throw LiftoffError(.unimplemented, "\(field).hugepage_limits are not supported yet") }
    if !r.unified.isEmpty { throw LiftoffError.invalidArgument("\(field).unified needs cgroup v2; this node runs cgroup v1") }
    if r.memorySwapLimitInBytes > 0 && r.memorySwapLimitInBytes != r.memoryLimitInBytes {
      throw LiftoffError(.unimplemented, "\(field).memory_swap_limit_in_bytes is not supported yet")
    }
    return a
  }
}
