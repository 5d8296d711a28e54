// ImageService RPCs that Liftoff does not implement yet. Each answers UNIMPLEMENTED naming the RPC —
// never a fake success — and is listed as unimplemented in the README's CRI table. An RPC moves out of
// this file into its own `ImageService+<RPC>.swift` when its issue lands.
import GRPCCore

extension ImageService {
  public func listImages(request: Runtime_V1_ListImagesRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ListImagesResponse {
    throw unimplementedRPC("ListImages")
  }

  public func streamImages(request: Runtime_V1_StreamImagesRequest, response: GRPCCore.RPCWriter<Runtime_V1_StreamImagesResponse>, context: GRPCCore.ServerContext) async throws {
    throw unimplementedRPC("StreamImages")
  }

  public func imageStatus(request: Runtime_V1_ImageStatusRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_ImageStatusResponse {
    throw unimplementedRPC("ImageStatus")
  }

  public func pullImage(request: Runtime_V1_PullImageRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_PullImageResponse {
    throw unimplementedRPC("PullImage")
  }

  public func removeImage(request: Runtime_V1_RemoveImageRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_RemoveImageResponse {
    throw unimplementedRPC("RemoveImage")
  }

}
