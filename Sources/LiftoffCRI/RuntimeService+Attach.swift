// Attach: a one-use streaming URL for joining a running container's stdio through stage1's attach
// socket (several clients at once; see ContainerStreamingBackend and LiftoffCore/AttachProtocol.swift).
// CRI contract: unknown container → NOT_FOUND; a container that is not running → FAILED_PRECONDITION;
// a tty that differs from the container's, stdin on a container created without stdin, or none of
// stdin/stdout/stderr → INVALID_ARGUMENT.
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func attach(
    request: Runtime_V1_AttachRequest, context: ServerContext
  ) async throws -> Runtime_V1_AttachResponse {
    try await handle("Attach", runtime) {
      let container = try runtime.container(request.containerID)
      guard container.state == .containerRunning else {
        throw LiftoffError(.failedPrecondition, "container \(container.id) is not running (it is \(container.status.state))")
      }
      guard request.tty == container.app.tty else {
        throw LiftoffError.invalidArgument(
          "tty is \(request.tty) but container \(container.id) was created with tty \(container.app.tty)")
      }
      guard !request.stdin || container.app.stdin else {
        throw LiftoffError.invalidArgument("stdin: container \(container.id) was created without stdin")
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
