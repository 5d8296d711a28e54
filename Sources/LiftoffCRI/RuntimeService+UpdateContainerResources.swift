// UpdateContainerResources: new Linux limits for a container, applied live to its cgroup and recorded
// in its pod's manifest by `liftoff app update` (so a container that has not started yet starts with
// them). Fields left at zero keep their values. A changed oom_score_adj is written to every process
// of the container (clamped to liftoff's own, as containerd's restrict_oom_score_adj). Windows
// resources are INVALID_ARGUMENT; unknown IDs NOT_FOUND.
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func updateContainerResources(
    request: Runtime_V1_UpdateContainerResourcesRequest, context: ServerContext
  ) async throws -> Runtime_V1_UpdateContainerResourcesResponse {
    try await handle("UpdateContainerResources", runtime) {
      let container = try runtime.container(request.containerID)
      if request.hasWindows { throw LiftoffError.invalidArgument("windows: Windows resources on a Linux node") }
      guard request.hasLinux else { return Runtime_V1_UpdateContainerResourcesResponse() }
      let r = request.linux
      let resources = try ContainerArguments.resources(r, field: "linux")
      var oomScoreAdj: Int?
      if r.oomScoreAdj != 0 && Int(r.oomScoreAdj) != (container.app.oomScoreAdj ?? 0) {
        guard (-1000...1000).contains(r.oomScoreAdj) else {
          throw LiftoffError.invalidArgument("linux.oom_score_adj \(r.oomScoreAdj) is not in -1000…1000")
        }
        oomScoreAdj = Int(r.oomScoreAdj)
      }
      let oom = oomScoreAdj
      guard !resources.isEmpty || oom != nil else { return Runtime_V1_UpdateContainerResourcesResponse() }
      _ = try await runtime.changingPod(container.sandbox.id) {
        try await runtime.stage0.run(
          .update(pod: container.sandbox.id, app: container.id, resources: resources, oomScoreAdj: oom))
      }
      return Runtime_V1_UpdateContainerResourcesResponse()
    }
  }
}
