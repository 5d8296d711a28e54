// RemoveContainer: `liftoff app rm` (a running container is killed first). Idempotent: removing a
// container that is gone succeeds.
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func removeContainer(
    request: Runtime_V1_RemoveContainerRequest, context: ServerContext
  ) async throws -> Runtime_V1_RemoveContainerResponse {
    try await handle("RemoveContainer", runtime) {
      guard let container = try runtime.existingContainer(request.containerID) else {
        return Runtime_V1_RemoveContainerResponse()
      }
      try await runtime.changingPod(container.sandbox.id) {
        guard try runtime.existingContainer(container.id) != nil else { return }
        try await runtime.stage0.run(.remove(pod: container.sandbox.id, app: container.id))
      }
      runtime.logger.info("container removed", metadata: ["id": "\(container.id)"])
      await runtime.emit(.containerDeletedEvent, id: container.id, sandboxID: container.sandbox.id)
      return Runtime_V1_RemoveContainerResponse()
    }
  }
}
