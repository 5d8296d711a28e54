// ContainerStatus: the container as it is on disk now. Unknown IDs are NOT_FOUND; `verbose` adds
// `info["info"]`, a JSON document with the app's pid, pod and manifest entry (as containerd's `info`).
import Foundation
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func containerStatus(
    request: Runtime_V1_ContainerStatusRequest, context: ServerContext
  ) async throws -> Runtime_V1_ContainerStatusResponse {
    try await handle("ContainerStatus", runtime) {
      let container = try runtime.container(request.containerID)
      var response = Runtime_V1_ContainerStatusResponse()
      response.status = container.criStatus
      if request.verbose {
        let info = JSON.obj([
          ("sandboxID", .string(container.sandbox.id)), ("pid", .int(container.status.pid.map(Int64.init))),
          ("runtimeHandler", .string(container.sandbox.runtimeHandler)), ("app", container.app.json),
        ])
        response.info = ["info": info.serialized()]
      }
      return response
    }
  }
}
