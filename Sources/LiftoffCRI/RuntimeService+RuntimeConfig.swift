// RuntimeConfig: the cgroup driver kubelet must use to match the runtime. Liftoff manages cgroups
// through cgroupfs (systemd is not required, and is not PID 1 on every node).
import GRPCCore

extension RuntimeService {
  public func runtimeConfig(
    request: Runtime_V1_RuntimeConfigRequest, context: ServerContext
  ) async throws -> Runtime_V1_RuntimeConfigResponse {
    var response = Runtime_V1_RuntimeConfigResponse()
    response.linux.cgroupDriver = .cgroupfs
    return response
  }
}
