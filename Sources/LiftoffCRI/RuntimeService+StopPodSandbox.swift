// StopPodSandbox: stops every process of the sandbox (its apps get their stop signal, then SIGKILL).
// Idempotent: stopping a stopped sandbox, or one that is gone, succeeds (kubelet calls it repeatedly).
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func stopPodSandbox(
    request: Runtime_V1_StopPodSandboxRequest, context: ServerContext
  ) async throws -> Runtime_V1_StopPodSandboxResponse {
    try await handle("StopPodSandbox", runtime) {
      guard let sandbox = try runtime.existingSandbox(request.podSandboxID) else {
        return Runtime_V1_StopPodSandboxResponse()
      }
      try await runtime.podLocks.withLock(sandbox.id) {
        if let current = try runtime.existingSandbox(sandbox.id), current.ready {
          _ = try await runtime.stage0.run(["stop", sandbox.id])
        }
      }
      await runtime.emit(.containerStoppedEvent, id: sandbox.id, sandboxID: sandbox.id)
      return Runtime_V1_StopPodSandboxResponse()
    }
  }
}
