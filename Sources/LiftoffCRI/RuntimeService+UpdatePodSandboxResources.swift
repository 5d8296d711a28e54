// UpdatePodSandboxResources: new limits for the sandbox's own cgroup (the parent of its containers',
// so they bound the pod as a whole), applied live and recorded in the pod's manifest by
// `liftoff app update POD` (no --app). Fields left at zero keep their values; `overhead` is
// informational (the pod's share already counted in `resources` by kubelet) and is not applied.
// oom_score_adj has no pod-level meaning and is refused when set. Unknown IDs are NOT_FOUND.
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func updatePodSandboxResources(
    request: Runtime_V1_UpdatePodSandboxResourcesRequest, context: ServerContext
  ) async throws -> Runtime_V1_UpdatePodSandboxResourcesResponse {
    try await handle("UpdatePodSandboxResources", runtime) {
      let sandbox = try runtime.sandbox(request.podSandboxID)
      guard request.hasResources else { return Runtime_V1_UpdatePodSandboxResourcesResponse() }
      if request.resources.oomScoreAdj != 0 {
        throw LiftoffError.invalidArgument("resources.oom_score_adj: a pod sandbox has no oom_score_adj of its own")
      }
      let resources = try ContainerArguments.resources(request.resources, field: "resources")
      guard !resources.isEmpty else { return Runtime_V1_UpdatePodSandboxResourcesResponse() }
      _ = try await runtime.changingPod(sandbox.id) {
        try await runtime.stage0.run(.update(pod: sandbox.id, app: nil, resources: resources, oomScoreAdj: nil))
      }
      return Runtime_V1_UpdatePodSandboxResourcesResponse()
    }
  }
}
