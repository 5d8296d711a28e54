// ListPodSandboxStats and StreamPodSandboxStats: the stats of every ready sandbox (as containerd, a
// sandbox that is not ready is left out), filtered by ID (full or unique prefix) and label selector.
// The stream sends the same list in batches of at most 100.
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func listPodSandboxStats(
    request: Runtime_V1_ListPodSandboxStatsRequest, context: ServerContext
  ) async throws -> Runtime_V1_ListPodSandboxStatsResponse {
    try await handle("ListPodSandboxStats", runtime) {
      var response = Runtime_V1_ListPodSandboxStatsResponse()
      response.stats = try filteredSandboxStats(request.hasFilter ? request.filter : nil)
      return response
    }
  }

  public func streamPodSandboxStats(
    request: Runtime_V1_StreamPodSandboxStatsRequest, response: RPCWriter<Runtime_V1_StreamPodSandboxStatsResponse>,
    context: ServerContext
  ) async throws {
    let stats = try await handle("StreamPodSandboxStats", runtime) {
      try filteredSandboxStats(request.hasFilter ? request.filter : nil)
    }
    var start = 0
    repeat {
      var batch = Runtime_V1_StreamPodSandboxStatsResponse()
      batch.podSandboxStats = Array(stats[start..<min(stats.count, start + 100)])
      try await response.write(batch)
      start += 100
    } while start < stats.count
  }

  func filteredSandboxStats(_ filter: Runtime_V1_PodSandboxStatsFilter?) throws -> [Runtime_V1_PodSandboxStats] {
    let sandboxes = try runtime.sandboxes().filter { s in
      guard s.ready else { return false }
      if let f = filter {
        if !f.id.isEmpty && !s.id.hasPrefix(f.id) { return false }
        for (k, v) in f.labelSelector where s.manifest.labels[k] != v { return false }
      }
      return true
    }
    return try sandboxes.compactMap { s in
      do {
        return try runtime.sandboxStats(s, containers: try runtime.containers(in: [s]))
      } catch let e as LiftoffError where e.code == .notFound {
        return nil
      }
    }
  }
}
