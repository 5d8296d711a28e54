// UpdateContainerResources: new Linux limits for a container, applied live to its cgroup and recorded
// in its pod's manifest by `liftoff app update` (so a container that has not started yet starts with
// them). Fields left at zero keep their values. oom_score_adj cannot change on a live container: a
// request that changes it is refused naming the field (kubelet sends the value it created the
// container with). Windows resources are INVALID_ARGUMENT; unknown IDs NOT_FOUND.
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func updateContainerResources(
    request: Runtime_V1_UpdateContainerResourcesRequest, context: ServerContext
  ) async throws -> Runtime_V1_UpdateContainerResourcesResponse {
    try await handle("UpdateContainerResources", runtime) {
      let container = try runtime.container(request.containerID)
      if request.hasWindows { throw LiftoffError.invalidArgument("windows: Windows resources on a Linux node") }
      guard request.hasLinux else { return Runtime_V1_UpdateContainerResourcesResponse() }
      let r = request.linux
      if r.oomScoreAdj != 0 && Int(r.oomScoreAdj) != (container.app.oomScoreAdj ?? 0) {
        throw LiftoffError(
          .unimplemented, "linux.oom_score_adj: changing it from \(container.app.oomScoreAdj ?? 0) to \(r.oomScoreAdj) on a live container is not supported")
      }
      let flags = try ContainerArguments.resourceFlags(r, field: "linux")
      guard !flags.isEmpty else { return Runtime_V1_UpdateContainerResourcesResponse() }
      try await runtime.podLocks.withLock(container.sandbox.id) {
        _ = try await runtime.stage0.run(["app", "update", "--app", container.id] + flags + [container.sandbox.id])
      }
      return Runtime_V1_UpdateContainerResourcesResponse()
    }
  }
}
