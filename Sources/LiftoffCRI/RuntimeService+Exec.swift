// Exec: a one-use streaming URL for running a command in a running container (SPDY or WebSocket; the
// command runs through liftoff-enter, as `liftoff enter` would run it, with the container's confinement, see
// ContainerStreamingBackend). CRI contract: unknown container → NOT_FOUND; a container that is not
// running → FAILED_PRECONDITION; an empty cmd, or none of stdin/stdout/stderr → INVALID_ARGUMENT.
import GRPCCore
import LiftoffCore
import LiftoffStreaming

extension RuntimeService {
  public func exec(
    request: Runtime_V1_ExecRequest, context: ServerContext
  ) async throws -> Runtime_V1_ExecResponse {
    try await handle("Exec", runtime) {
      guard !request.cmd.isEmpty, !request.cmd[0].isEmpty else { throw LiftoffError.invalidArgument("cmd is empty") }
      let container = try runtime.container(request.containerID)
      guard container.state == .containerRunning else {
        throw LiftoffError(.failedPrecondition, "container \(container.id) is not running (it is \(container.status.state))")
      }
      var response = Runtime_V1_ExecResponse()
      response.url = try runtime.streaming.register(
        .exec(
          .init(
            containerID: container.id, cmd: request.cmd, tty: request.tty, stdin: request.stdin, stdout: request.stdout,
            stderr: request.stderr)))
      return response
    }
  }
}
