// UpdateRuntimeConfig: kubelet tells the runtime the node's pod CIDR. Liftoff records it (atomically,
// under <dir>/network) and the embedded default network allocates pod IPs from it from then on — in
// this process and in every `liftoff` stage0 that sets up a pod network. A configured CNI network
// (a file in the conf dir) has its own IPAM and is not changed. An empty pod_cidr changes nothing;
// a malformed one is INVALID_ARGUMENT naming it.
import GRPCCore
import LiftoffNet

extension RuntimeService {
  public func updateRuntimeConfig(
    request: Runtime_V1_UpdateRuntimeConfigRequest, context: ServerContext
  ) async throws -> Runtime_V1_UpdateRuntimeConfigResponse {
    try await handle("UpdateRuntimeConfig", runtime) {
      let cidr = request.runtimeConfig.networkConfig.podCidr
      if !cidr.isEmpty {
        let first = try PodCIDRStore.save(cidr, stateDir: runtime.config.dir)
        try runtime.cni.setPodCIDR(first)
        runtime.logger.info("pod cidr updated", metadata: ["podCIDR": "\(cidr)"])
      }
      return Runtime_V1_UpdateRuntimeConfigResponse()
    }
  }
}
