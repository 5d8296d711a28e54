// ListPodSandbox: every CRI sandbox on disk, filtered by ID (full or unique prefix), state and label
// selector (every selector pair must match).
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func listPodSandbox(
    request: Runtime_V1_ListPodSandboxRequest, context: ServerContext
  ) async throws -> Runtime_V1_ListPodSandboxResponse {
    try await handle("ListPodSandbox", runtime) {
      let filter = request.filter
      var response = Runtime_V1_ListPodSandboxResponse()
      response.items = try runtime.sandboxes().compactMap { sandbox in
        let state: Runtime_V1_PodSandboxState = sandbox.ready ? .sandboxReady : .sandboxNotready
        if request.hasFilter {
          if !filter.id.isEmpty && !sandbox.id.hasPrefix(filter.id) { return nil }
          if filter.hasState && filter.state.state != state { return nil }
          for (k, v) in filter.labelSelector where sandbox.manifest.labels[k] != v { return nil }
        }
        var item = Runtime_V1_PodSandbox()
        item.id = sandbox.id
        item.metadata = sandbox.metadata
        item.state = state
        item.createdAt = sandbox.createdAtNanoseconds
        item.labels = sandbox.manifest.labels
        item.annotations = sandbox.userAnnotations
        item.runtimeHandler = sandbox.runtimeHandler
        return item
      }
      return response
    }
  }
}
