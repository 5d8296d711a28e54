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
      var status = Runtime_V1_PodSandboxStatus()
      status.id = sandbox.id
      status.metadata = sandbox.metadata
      status.state = sandbox.ready ? .sandboxReady : .sandboxNotready
      status.createdAt = sandbox.createdAtNanoseconds
      status.labels = sandbox.manifest.labels
      status.annotations = sandbox.userAnnotations
      status.runtimeHandler = sandbox.runtimeHandler
      var namespaces = Runtime_V1_NamespaceOption()
      namespaces.network = Runtime_V1_NamespaceMode(name: sandbox.manifest.annotations[CRIKeys.networkMode]) ?? .pod
      namespaces.pid = Runtime_V1_NamespaceMode(name: sandbox.manifest.annotations[CRIKeys.pidMode]) ?? .container
      namespaces.ipc = Runtime_V1_NamespaceMode(name: sandbox.manifest.annotations[CRIKeys.ipcMode]) ?? .pod
      status.linux.namespaces.options = namespaces
      // The pod's addresses from its CNI attachment, primary (IPv4) first; none for host network.
      if let ips = sandbox.status.ips, let primary = ips.first {
        status.network.ip = primary
        status.network.additionalIps = ips.dropFirst().map { ip in
          var p = Runtime_V1_PodIP()
          p.ip = ip
          return p
        }
      }
      response.status = status
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
