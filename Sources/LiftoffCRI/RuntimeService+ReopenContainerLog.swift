// ReopenContainerLog: stage1 reopens the container's log file (after kubelet rotated it) without losing
// a line. The container must be running (FAILED_PRECONDITION otherwise, as in containerd).
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func reopenContainerLog(
    request: Runtime_V1_ReopenContainerLogRequest, context: ServerContext
  ) async throws -> Runtime_V1_ReopenContainerLogResponse {
    try await handle("ReopenContainerLog", runtime) {
      let container = try runtime.container(request.containerID)
      guard container.state == .containerRunning else {
        throw LiftoffError(.failedPrecondition, "container \(container.id) is not running")
      }
      guard !container.logPath.isEmpty else {
        throw LiftoffError(.failedPrecondition, "container \(container.id) has no log path")
      }
      try await runtime.stage0.run(.reopenLog(pod: container.sandbox.id, app: container.id))
      return Runtime_V1_ReopenContainerLogResponse()
    }
  }
}
