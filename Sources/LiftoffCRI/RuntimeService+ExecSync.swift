// ExecSync: runs a command in a running container and returns its stdout, stderr and exit code. With a
// timeout (seconds, 0 = none) the command is killed when it expires and the call fails promptly with
// DEADLINE_EXCEEDED, as containerd does — a hanging probe never lingers.
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func execSync(
    request: Runtime_V1_ExecSyncRequest, context: ServerContext
  ) async throws -> Runtime_V1_ExecSyncResponse {
    try await handle("ExecSync", runtime) {
      guard !request.cmd.isEmpty, !request.cmd[0].isEmpty else { throw LiftoffError.invalidArgument("cmd is empty") }
      guard request.timeout >= 0 else { throw LiftoffError.invalidArgument("timeout \(request.timeout) is negative") }
      let container = try runtime.container(request.containerID)
      guard container.state == .containerRunning else {
        throw LiftoffError(.failedPrecondition, "container \(container.id) is not running")
      }
      let (env, argv) = try PodManager(store: try runtime.podStore).enterInvocation(
        container.sandbox.id, app: container.id, command: request.cmd)
      runtime.logger.debug("exec sync", metadata: ["id": "\(container.id)", "timeout": "\(request.timeout)"])
      let result = try await ExecSyncProcess(executable: runtime.liftoffPath, argv: argv, env: env).run(timeoutSeconds: request.timeout)
      if result.timedOut {
        throw LiftoffError(
          .deadlineExceeded, "command \(request.cmd) in container \(container.id) timed out after \(request.timeout)s and was killed")
      }
      var response = Runtime_V1_ExecSyncResponse()
      response.stdout = result.stdout
      response.stderr = result.stderr
      response.exitCode = result.exitCode
      return response
    }
  }
}
