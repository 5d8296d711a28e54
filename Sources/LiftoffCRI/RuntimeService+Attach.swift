// Attach: a one-use streaming URL for joining a running container's stdio through stage1's attach
// socket (several clients at once; see ContainerStreamingBackend and LiftoffCore/AttachProtocol.swift).
// CRI contract: unknown container → NOT_FOUND; a container that is not running → FAILED_PRECONDITION;
// none of stdin/stdout/stderr → INVALID_ARGUMENT. As containerd does, the container's own tty and stdin
// settings decide what the session carries: `kubectl attach` without -t to a tty container shows its
// output; stdin sent to a container created without stdin goes nowhere.
import GRPCCore
import LiftoffCore
import LiftoffStreaming

extension RuntimeService {
  public func attach(
    request: Runtime_V1_AttachRequest, context: ServerContext
  ) async throws -> Runtime_V1_AttachResponse {
    try await handle("Attach", runtime) {
      let container = try runtime.container(request.containerID)
      guard container.state == .containerRunning else {
        throw LiftoffError(.failedPrecondition, "container \(container.id) is not running (it is \(container.status.state))")
      }
      var response = Runtime_V1_AttachResponse()
      response.url = try runtime.streaming.register(
        .attach(
          .init(
            containerID: container.id, tty: request.tty, stdin: request.stdin, stdout: request.stdout,
            stderr: request.stderr)))
      return response
    }
  }
}
