// UpdateContainerResources: new Linux limits for a container, applied live to its cgroup and recorded
// in its pod's manifest by `liftoff app update` (so a container that has not started yet starts with
// them). Fields left at zero keep their values. A changed oom_score_adj is written to every process
// of the container (clamped to liftoff's own, as containerd's restrict_oom_score_adj). Windows
// resources are INVALID_ARGUMENT; unknown IDs NOT_FOUND.
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
      var flags = try ContainerArguments.resourceFlags(r, field: "linux")
      if r.oomScoreAdj != 0 && Int(r.oomScoreAdj) != (container.app.oomScoreAdj ?? 0) {
        guard (-1000...1000).contains(r.oomScoreAdj) else {
          throw LiftoffError.invalidArgument("linux.oom_score_adj \(r.oomScoreAdj) is not in -1000…1000")
        }
        flags.append("--oom-score-adj=\(r.oomScoreAdj)")  // "=": a negative value is no flag
      }
      guard !flags.isEmpty else { return Runtime_V1_UpdateContainerResourcesResponse() }
      let arguments = ["app", "update", "--app", container.id] + flags + [container.sandbox.id]
      try await runtime.changingPod(container.sandbox.id) {
        _ = try await runtime.stage0.run(arguments)
      }
      return Runtime_V1_UpdateContainerResourcesResponse()
    }
  }
}
