// RuntimeConfig: the cgroup driver kubelet must use to match the runtime: `cgroup-driver` of the
// configuration (cgroupfs by default; systemd only where systemd is PID 1, checked at start-up).
import GRPCCore

extension RuntimeService {
  public func runtimeConfig(
    request: Runtime_V1_RuntimeConfigRequest, context: ServerContext
  ) async throws -> Runtime_V1_RuntimeConfigResponse {
    var response = Runtime_V1_RuntimeConfigResponse()
    response.linux.cgroupDriver = runtime.config.cgroupDriver == "systemd" ? .systemd : .cgroupfs
    return response
  }
}
