// StopPodSandbox: stops every process of the sandbox (its apps get their stop signal, then SIGKILL)
// and reclaims its network (CNI DEL: addresses, veth, port mappings; the namespace), as CRI requires —
// `liftoff stop` does both. Idempotent: stopping a stopped sandbox, or one that is gone, succeeds
// (kubelet calls it repeatedly); a sandbox that exited by itself still gets its network reclaimed.
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
        if try runtime.existingSandbox(sandbox.id) != nil {
          _ = try await runtime.stage0.run(["stop", sandbox.id])
        }
      }
      await runtime.emit(.containerStoppedEvent, id: sandbox.id, sandboxID: sandbox.id)
      return Runtime_V1_StopPodSandboxResponse()
    }
  }
}
