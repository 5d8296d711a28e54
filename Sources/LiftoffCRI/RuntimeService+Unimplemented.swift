// RuntimeService RPCs that Liftoff does not implement yet. Each answers UNIMPLEMENTED naming the RPC —
// never a fake success — and is listed as unimplemented in the README's CRI table. An RPC moves out of
// this file into its own `RuntimeService+<RPC>.swift` when its issue lands.
import GRPCCore

extension RuntimeService {
  public func streamPodSandboxes(request: Runtime_V1_StreamPodSandboxesRequest, response: GRPCCore.RPCWriter<Runtime_V1_StreamPodSandboxesResponse>, context: GRPCCore.ServerContext) async throws {
    throw unimplementedRPC("StreamPodSandboxes")
  }

  public func createContainer(request: Runtime_V1_CreateContainerRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_CreateContainerResponse {
    throw unimplementedRPC("CreateContainer")
  }

  public func startContainer(request: Runtime_V1_StartContainerRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_StartContainerResponse {
    throw unimplementedRPC("StartContainer")
  }

  public func stopContainer(request: Runtime_V1_StopContainerRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_StopContainerResponse {
    throw unimplementedRPC("StopContainer")
  }

  public func removeContainer(request: Runtime_V1_RemoveContainerRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_RemoveContainerResponse {
    throw unimplementedRPC("RemoveContainer")
  }

  public func listContainers(request: Runtime_V1_ListContainersRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ListContainersResponse {
    throw unimplementedRPC("ListContainers")
  }

  public func streamContainers(request: Runtime_V1_StreamContainersRequest, response: GRPCCore.RPCWriter<Runtime_V1_StreamContainersResponse>, context: GRPCCore.ServerContext) async throws {
    throw unimplementedRPC("StreamContainers")
  }

  public func containerStatus(request: Runtime_V1_ContainerStatusRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ContainerStatusResponse {
    throw unimplementedRPC("ContainerStatus")
  }

  public func updateContainerResources(request: Runtime_V1_UpdateContainerResourcesRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_UpdateContainerResourcesResponse {
    throw unimplementedRPC("UpdateContainerResources")
  }

  public func reopenContainerLog(request: Runtime_V1_ReopenContainerLogRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ReopenContainerLogResponse {
    throw unimplementedRPC("ReopenContainerLog")
  }

  public func execSync(request: Runtime_V1_ExecSyncRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ExecSyncResponse {
    throw unimplementedRPC("ExecSync")
  }

  public func exec(request: Runtime_V1_ExecRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ExecResponse {
    throw unimplementedRPC("Exec")
  }

  public func attach(request: Runtime_V1_AttachRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_AttachResponse {
    throw unimplementedRPC("Attach")
  }

  public func portForward(request: Runtime_V1_PortForwardRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_PortForwardResponse {
    throw unimplementedRPC("PortForward")
  }

  public func containerStats(request: Runtime_V1_ContainerStatsRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ContainerStatsResponse {
    throw unimplementedRPC("ContainerStats")
  }

  public func listContainerStats(request: Runtime_V1_ListContainerStatsRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ListContainerStatsResponse {
    throw unimplementedRPC("ListContainerStats")
  }

  public func streamContainerStats(request: Runtime_V1_StreamContainerStatsRequest, response: GRPCCore.RPCWriter<Runtime_V1_StreamContainerStatsResponse>, context: GRPCCore.ServerContext) async throws {
    throw unimplementedRPC("StreamContainerStats")
  }

  public func podSandboxStats(request: Runtime_V1_PodSandboxStatsRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_PodSandboxStatsResponse {
    throw unimplementedRPC("PodSandboxStats")
  }

  public func listPodSandboxStats(request: Runtime_V1_ListPodSandboxStatsRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ListPodSandboxStatsResponse {
    throw unimplementedRPC("ListPodSandboxStats")
  }

  public func streamPodSandboxStats(request: Runtime_V1_StreamPodSandboxStatsRequest, response: GRPCCore.RPCWriter<Runtime_V1_StreamPodSandboxStatsResponse>, context: GRPCCore.ServerContext) async throws {
    throw unimplementedRPC("StreamPodSandboxStats")
  }

  public func checkpointContainer(request: Runtime_V1_CheckpointContainerRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_CheckpointContainerResponse {
    throw unimplementedRPC("CheckpointContainer")
  }

  public func getContainerEvents(request: Runtime_V1_GetEventsRequest, response: GRPCCore.RPCWriter<Runtime_V1_ContainerEventResponse>, context: GRPCCore.ServerContext) async throws {
    throw unimplementedRPC("GetContainerEvents")
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
