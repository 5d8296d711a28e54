// PortForward: a one-use streaming URL for port-forward into the sandbox's network namespace (the
// host's for host-network sandboxes). CRI contract: unknown sandbox → NOT_FOUND; a sandbox that is not
// ready → FAILED_PRECONDITION; a port outside 1…65535 → INVALID_ARGUMENT. An empty port list lets the
// client name any port per stream (kubelet names them in each stream's `port` header).
import GRPCCore
import LiftoffCore
import LiftoffStreaming

extension RuntimeService {
  public func portForward(
    request: Runtime_V1_PortForwardRequest, context: ServerContext
  ) async throws -> Runtime_V1_PortForwardResponse {
    try await handle("PortForward", runtime) {
      let sandbox = try runtime.sandbox(request.podSandboxID)
      guard sandbox.ready else {
        throw LiftoffError(.failedPrecondition, "pod sandbox \(sandbox.id) is not ready")
      }
      var ports: [UInt16] = []
      for p in request.port {
        guard p > 0, p <= 65535 else { throw LiftoffError.invalidArgument("port \(p) is out of range 1-65535") }
        ports.append(UInt16(p))
      }
      var response = Runtime_V1_PortForwardResponse()
      response.url = try runtime.streaming.register(.portForward(.init(podSandboxID: sandbox.id, ports: ports)))
      return response
    }
  }
}
