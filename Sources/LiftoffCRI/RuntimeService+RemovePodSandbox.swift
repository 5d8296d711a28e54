// RemovePodSandbox: removes the sandbox and everything in it, stopping it first if it still runs.
// Idempotent: removing a sandbox that is gone succeeds.
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func removePodSandbox(
    request: Runtime_V1_RemovePodSandboxRequest, context: ServerContext
  ) async throws -> Runtime_V1_RemovePodSandboxResponse {
    try await handle("RemovePodSandbox", runtime) {
      guard let sandbox = try runtime.existingSandbox(request.podSandboxID) else {
        return Runtime_V1_RemovePodSandboxResponse()
      }
      try await runtime.changingPod(sandbox.id) {
        // Another caller may have removed it while we waited for the lock.
        guard let current = try runtime.existingSandbox(sandbox.id) else { return }
        if current.ready {
          try await runtime.stage0.run(.stopPods(ids: [sandbox.id], force: true, timeoutSeconds: nil))
        }
        try await runtime.stage0.run(.removePods(ids: [sandbox.id]))
      }
      runtime.logger.info("sandbox removed", metadata: ["id": "\(sandbox.id)"])
      for c in sandbox.manifest.apps where c.annotations[CRIKeys.kind] == CRIKeys.containerKind {
        await runtime.emit(.containerDeletedEvent, id: c.name, sandboxID: sandbox.id)
      }
      await runtime.emit(.containerDeletedEvent, id: sandbox.id, sandboxID: sandbox.id)
      return Runtime_V1_RemovePodSandboxResponse()
    }
  }
}
