// StopContainer: the app's stop signal, SIGKILL after `timeout` seconds (0: at once); returns once the
// container has exited. Idempotent: a container that is not running, or is gone, is already stopped.
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func stopContainer(
    request: Runtime_V1_StopContainerRequest, context: ServerContext
  ) async throws -> Runtime_V1_StopContainerResponse {
    try await handle("StopContainer", runtime) {
      guard let container = try runtime.existingContainer(request.containerID) else {
        return Runtime_V1_StopContainerResponse()
      }
      guard request.timeout >= 0 else { throw LiftoffError.invalidArgument("timeout \(request.timeout) is negative") }
      try await runtime.changingPod(container.sandbox.id) {
        guard let current = try runtime.existingContainer(container.id), current.state == .containerRunning,
          current.sandbox.ready
        else { return }
        let timeout = Int(min(request.timeout, 86_400))
        try await runtime.stage0.run(
          .stop(pod: container.sandbox.id, app: container.id, timeoutSeconds: timeout), timeout: Double(timeout) + 60)
      }
      await runtime.emit(.containerStoppedEvent, id: container.id, sandboxID: container.sandbox.id)
      return Runtime_V1_StopContainerResponse()
    }
  }
}
