// ContainerStats: one container's CPU, memory and writable layer, read from the kernel now (CRIStats).
// Unknown IDs are NOT_FOUND; a container that does not run has a writable layer but no CPU or memory
// numbers (its cgroup exists only while it runs).
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func containerStats(
    request: Runtime_V1_ContainerStatsRequest, context: ServerContext
  ) async throws -> Runtime_V1_ContainerStatsResponse {
    try await handle("ContainerStats", runtime) {
      let container = try runtime.container(request.containerID)
      var response = Runtime_V1_ContainerStatsResponse()
      response.stats = try runtime.containerStats(container)
      return response
    }
  }
}
