// ListContainerStats and StreamContainerStats: the stats of every CRI container on disk, filtered by
// ID (full or unique prefix), sandbox ID (full or prefix) and label selector (every pair must match).
// The stream sends the same list in batches of at most 100. Containers removed while the list is read
// are left out.
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func listContainerStats(
    request: Runtime_V1_ListContainerStatsRequest, context: ServerContext
  ) async throws -> Runtime_V1_ListContainerStatsResponse {
    try await handle("ListContainerStats", runtime) {
      var response = Runtime_V1_ListContainerStatsResponse()
      response.stats = try filteredContainerStats(request.hasFilter ? request.filter : nil)
      return response
    }
  }

  public func streamContainerStats(
    request: Runtime_V1_StreamContainerStatsRequest, response: RPCWriter<Runtime_V1_StreamContainerStatsResponse>,
    context: ServerContext
  ) async throws {
    let stats = try await handle("StreamContainerStats", runtime) {
      try filteredContainerStats(request.hasFilter ? request.filter : nil)
    }
    var start = 0
    repeat {
      var batch = Runtime_V1_StreamContainerStatsResponse()
      batch.containerStats = Array(stats[start..<min(stats.count, start + 100)])
      try await response.write(batch)
      start += 100
    } while start < stats.count
  }

  func filteredContainerStats(_ filter: Runtime_V1_ContainerStatsFilter?) throws -> [Runtime_V1_ContainerStats] {
    var sandboxes = try runtime.sandboxes()
    if let f = filter, !f.podSandboxID.isEmpty { sandboxes = sandboxes.filter { $0.id.hasPrefix(f.podSandboxID) } }
    return try runtime.containers(in: sandboxes).compactMap { c in
      if let f = filter {
        if !f.id.isEmpty && !c.id.hasPrefix(f.id) { return nil }
        for (k, v) in f.labelSelector where c.app.labels[k] != v { return nil }
      }
      do {
        return try runtime.containerStats(c)
      } catch let e as LiftoffError where e.code == .notFound {
        return nil
      }
    }
  }
}
