// Version: the runtime's name and version and the CRI API version it speaks. Never fails.
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func version(
    request: Runtime_V1_VersionRequest, context: ServerContext
  ) async throws -> Runtime_V1_VersionResponse {
    var response = Runtime_V1_VersionResponse()
    // `version` is the kubelet-side API version the request names; the CRI answers "0.1.0" as
    // containerd and CRI-O do (the field predates runtime.v1 and is kept for compatibility).
    response.version = "0.1.0"
    response.runtimeName = LiftoffVersion.runtimeName
    response.runtimeVersion = LiftoffVersion.version
    response.runtimeApiVersion = LiftoffVersion.criAPIVersion
    return response
  }
}
