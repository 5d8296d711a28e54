// StreamPodSandboxes: ListPodSandbox as a stream, in batches of at most 100 sandboxes.
import GRPCCore
import LiftoffCore

extension RuntimeService {
  public func streamPodSandboxes(
    request: Runtime_V1_StreamPodSandboxesRequest, response: RPCWriter<Runtime_V1_StreamPodSandboxesResponse>,
    context: ServerContext
  ) async throws {
    var list = Runtime_V1_ListPodSandboxRequest()
    if request.hasFilter { list.filter = request.filter }
    let items = try await listPodSandbox(request: list, context: context).items
    var start = 0
    repeat {
      var batch = Runtime_V1_StreamPodSandboxesResponse()
      batch.podSandboxes = Array(items[start..<min(items.count, start + 100)])
      try await response.write(batch)
      start += 100
    } while start < items.count
  }
}
