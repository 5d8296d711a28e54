// The CRI ImageService of liftoff-cri. One RPC per file: `ImageService+<RPC>.swift`; the RPCs not built
// yet are in `ImageService+Unimplemented.swift`.
import GRPCCore

public struct ImageService: Runtime_V1_ImageService.SimpleServiceProtocol {
  public let runtime: CRIRuntime

  public init(runtime: CRIRuntime) {
    self.runtime = runtime
  }
}
