// PodSandboxStatus: the sandbox as it is on disk now. Unknown IDs are NOT_FOUND; `verbose` adds
// `info["pod"]`, the pod's `liftoff status --format json` document.
import Foundation
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func podSandboxStatus(
    request: Runtime_V1_PodSandboxStatusRequest, context: ServerContext
  ) async throws -> Runtime_V1_PodSandboxStatusResponse {
    try await handle("PodSandboxStatus", runtime) {
      let sandbox = try runtime.sandbox(request.podSandboxID)
      var response = Runtime_V1_PodSandboxStatusResponse()
      response.status = sandbox.criStatus
      if request.verbose {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        response.info = ["pod": String(decoding: try encoder.encode(sandbox.status), as: UTF8.self)]
      }
      return response
    }
  }
}

extension Runtime_V1_NamespaceMode {
  /// The mode from its Swift case name as stored in the manifest ("pod", "container", "node", "target").
  init?(name: String?) {
    switch name {
    case "pod": self = .pod
    case "container": self = .container
    case "node": self = .node
    case "target": self = .target
    default: return nil
    }
  }
}
