// StopPodSandbox: forcibly terminates every process of the sandbox and reclaims its network (CNI DEL:
// addresses, veth, port mappings; the namespace), as CRI requires — `liftoff stop --timeout 0` does
// both: stage1 sends each app its stop signal and SIGKILL straight after, records how they ended and
// exits (kubelet has given the grace period through StopContainer already; containerd likewise stops
// each container with timeout 0). Idempotent: stopping a stopped sandbox, or one that is gone, succeeds
// (kubelet calls it repeatedly); a sandbox that exited by itself still gets its network reclaimed.
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func stopPodSandbox(
    request: Runtime_V1_StopPodSandboxRequest, context: ServerContext
  ) async throws -> Runtime_V1_StopPodSandboxResponse {
    try await handle("StopPodSandbox", runtime) {
      guard let sandbox = try runtime.existingSandbox(request.podSandboxID) else {
        return Runtime_V1_StopPodSandboxResponse()
      }
      try await runtime.changingPod(sandbox.id) {
        if try runtime.existingSandbox(sandbox.id) != nil {
          try await runtime.stage0.run(.stopPods(ids: [sandbox.id], force: false, timeoutSeconds: 0))
        }
      }
      await runtime.emit(.containerStoppedEvent, id: sandbox.id, sandboxID: sandbox.id)
      return Runtime_V1_StopPodSandboxResponse()
    }
  }
}
