// PodSandboxStats: a sandbox's CPU, memory and process count (its pod cgroup: every container
// together), its network namespace's interfaces (loopback left out; `eth0` is the default interface),
// and each of its containers' stats. Unknown IDs are NOT_FOUND; a sandbox that is not ready has no
// CPU, memory or network numbers.
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func podSandboxStats(
    request: Runtime_V1_PodSandboxStatsRequest, context: ServerContext
  ) async throws -> Runtime_V1_PodSandboxStatsResponse {
    try await handle("PodSandboxStats", runtime) {
      let sandbox = try runtime.sandbox(request.podSandboxID)
      var response = Runtime_V1_PodSandboxStatsResponse()
      response.stats = try runtime.sandboxStats(sandbox, containers: try runtime.containers(in: [sandbox]))
      return response
    }
  }
}
