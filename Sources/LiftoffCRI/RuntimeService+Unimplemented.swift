// RuntimeService RPCs that Liftoff does not implement yet. Each answers UNIMPLEMENTED naming the RPC —
// never a fake success — and is listed as unimplemented in the README's CRI table. An RPC moves out of
// this file into its own `RuntimeService+<RPC>.swift` when its issue lands.
import GRPCCore

extension RuntimeService {

  public func checkpointContainer(request: Runtime_V1_CheckpointContainerRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_CheckpointContainerResponse {
    throw unimplementedRPC("CheckpointContainer")
  }

  public func listMetricDescriptors(request: Runtime_V1_ListMetricDescriptorsRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ListMetricDescriptorsResponse {
    throw unimplementedRPC("ListMetricDescriptors")
  }

  public func listPodSandboxMetrics(request: Runtime_V1_ListPodSandboxMetricsRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ListPodSandboxMetricsResponse {
    throw unimplementedRPC("ListPodSandboxMetrics")
  }

  public func streamPodSandboxMetrics(request: Runtime_V1_StreamPodSandboxMetricsRequest, response: GRPCCore.RPCWriter<Runtime_V1_StreamPodSandboxMetricsResponse>, context: GRPCCore.ServerContext) async throws {
    throw unimplementedRPC("StreamPodSandboxMetrics")
  }

  public func updatePodSandboxResources(request: Runtime_V1_UpdatePodSandboxResourcesRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_UpdatePodSandboxResourcesResponse {
    throw unimplementedRPC("UpdatePodSandboxResources")
  }
}
