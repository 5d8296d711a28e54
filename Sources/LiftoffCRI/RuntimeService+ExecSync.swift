// ExecSync: runs a command in a running container and returns its stdout, stderr and exit code. With a
// timeout (seconds, 0 = none) the command is killed when it expires and the call fails promptly with
// DEADLINE_EXCEEDED, as containerd does — a hanging probe never lingers.
import GRPCCore
import Foundation
import LiftoffCore
import LiftoffOS
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
      // liftoff-enter with the environment `liftoff enter --app ID POD -- CMD…` would exec it with,
      // minus one process start-up; in a process group of its own, so that on timeout SIGKILL reaches
      // the command it runs inside the container's PID namespace (a process group spans PID namespaces)
      // while the waiting liftoff-enter lives to reap it, then exits: a hanging probe never outlives its
      // deadline, not even as a zombie in the container.
      var child = Subprocess(executable: runtime.enterPath, argv: argv, env: env)
      child.stdout = .capture(limit: Stage0.outputLimit)
      child.stderr = .capture(limit: Stage0.outputLimit)
      child.ownProcessGroup = true
      child.leaderGrace = 2
      child.killGroupOnExit = true
      let result: Subprocess.Result
      do { result = try await child.run(timeout: Double(request.timeout)) } catch {
        throw LiftoffError.internal("cannot run \(runtime.enterPath)", cause: error)
      }
      if result.timedOut {
        throw LiftoffError(
          .deadlineExceeded, "command \(request.cmd) in container \(container.id) timed out after \(request.timeout)s and was killed")
      }
      var response = Runtime_V1_ExecSyncResponse()
      response.stdout = Data(result.stdout)
      response.stderr = Data(result.stderr)
      response.exitCode = result.status
      return response
    }
  }
}
