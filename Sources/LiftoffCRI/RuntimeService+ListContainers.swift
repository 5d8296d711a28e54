// ListContainers and StreamContainers: every CRI container on disk, filtered by ID (full or unique
// prefix), sandbox ID (full or prefix), state and label selector (every pair must match).
// StreamContainers sends the same list in batches of at most 100.
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func listContainers(
    request: Runtime_V1_ListContainersRequest, context: ServerContext
  ) async throws -> Runtime_V1_ListContainersResponse {
    try await handle("ListContainers", runtime) {
      var response = Runtime_V1_ListContainersResponse()
      response.containers = try filteredContainers(request.hasFilter ? request.filter : nil)
      return response
    }
  }

  public func streamContainers(
    request: Runtime_V1_StreamContainersRequest, response: RPCWriter<Runtime_V1_StreamContainersResponse>,
    context: ServerContext
  ) async throws {
    let containers = try await handle("StreamContainers", runtime) {
      try filteredContainers(request.hasFilter ? request.filter : nil)
    }
    var start = 0
    repeat {
      var batch = Runtime_V1_StreamContainersResponse()
      batch.containers = Array(containers[start..<min(containers.count, start + 100)])
      try await response.write(batch)
      start += 100
    } while start < containers.count
  }

  func filteredContainers(_ filter: Runtime_V1_ContainerFilter?) throws -> [Runtime_V1_Container] {
    var sandboxes = try runtime.sandboxes()
    if let f = filter, !f.podSandboxID.isEmpty { sandboxes = sandboxes.filter { $0.id.hasPrefix(f.podSandboxID) } }
    return try runtime.containers(in: sandboxes).compactMap { c in
      if let f = filter {
        if !f.id.isEmpty && !c.id.hasPrefix(f.id) { return nil }
        if f.hasState && f.state.state != c.state { return nil }
        for (k, v) in f.labelSelector where c.app.labels[k] != v { return nil }
      }
      return c.listItem
    }
  }
}
