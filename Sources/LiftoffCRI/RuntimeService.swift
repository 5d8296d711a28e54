// The CRI RuntimeService of liftoff-cri. One RPC per file: `RuntimeService+<RPC>.swift`; the RPCs not
// built yet are in `RuntimeService+Unimplemented.swift`.
import GRPCCore

public struct RuntimeService: Runtime_V1_RuntimeService.SimpleServiceProtocol {
  public let runtime: CRIRuntime

  public init(runtime: CRIRuntime) {
    self.runtime = runtime
  }
}
