// RuntimeService RPCs that Liftoff does not implement yet. Each answers UNIMPLEMENTED naming the RPC —
// never a fake success — and is listed as unimplemented in the README's CRI table. An RPC moves out of
// this file into its own `RuntimeService+<RPC>.swift` when its issue lands.
import GRPCCore

extension RuntimeService {

  public func checkpointContainer(request: Runtime_V1_CheckpointContainerRequest, context: GRPCCore.ServerContext) async throws -> Runtime_V1_CheckpointContainerResponse {
    throw unimplementedRPC("CheckpointContainer")
  }

}
