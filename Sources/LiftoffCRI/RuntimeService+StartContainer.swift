// StartContainer: `liftoff app start`; stage1 starts the app and records it running before it answers.
// Starting a container that is not in the created state is FAILED_PRECONDITION.
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func startContainer(
    request: Runtime_V1_StartContainerRequest, context: ServerContext
  ) async throws -> Runtime_V1_StartContainerResponse {
    try await handle("StartContainer", runtime) {
      let container = try runtime.container(request.containerID)
      try await runtime.changingPod(container.sandbox.id) {
        let current = try runtime.container(container.id)
        guard current.state == .containerCreated else {
          throw LiftoffError(.failedPrecondition, "container \(container.id) is \(current.status.state), not created")
        }
        guard current.sandbox.ready else {
          throw LiftoffError(.failedPrecondition, "pod sandbox \(current.sandbox.id) of container \(container.id) is not ready")
        }
        // A container with hooks may hold the start for as long as they may take (AppHook.swift).
        try await runtime.stage0.run(
          .start(pod: container.sandbox.id, app: container.id), timeout: 120 + Double(current.app.hookBudgetSeconds))
      }
      let started = try runtime.container(container.id)
      await runtime.emit(.containerStartedEvent, id: container.id, sandboxID: container.sandbox.id)
      if started.state == .containerExited, started.status.reason == AppState.Reason.startFailed.rawValue {
        throw LiftoffError(.internal, "container \(container.id) failed to start: \(started.status.message ?? "unknown error")")
      }
      return Runtime_V1_StartContainerResponse()
    }
  }
}
