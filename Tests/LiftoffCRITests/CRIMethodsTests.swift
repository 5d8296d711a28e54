// The CRI socket's server (LiftoffRPC) serves exactly the methods of the generated services: the table
// in CRIServer+Methods.swift against what grpc-swift's generated code registers.
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Testing

@testable import LiftoffCRI

struct CRIMethodsTests {
  @Test func everyMethodOfTheGeneratedServicesIsServed() {
    var config = CRIConfig()
    config.dir = "/nonexistent/liftoff-cri-methods-test"
    let runtime = CRIRuntime(config: config, logger: Logger(label: "test"))
    let served = Set(CRIServer.methods(runtime: runtime).keys)
    var router = RPCRouter<HTTP2ServerTransport.Posix>()
    RuntimeService(runtime: runtime).registerMethods(with: &router)
    ImageService(runtime: runtime).registerMethods(with: &router)
    let generated = Set(router.methods.map { "/" + $0.fullyQualifiedMethod })
    #expect(served == generated)
    #expect(generated.count == 41)
  }
}
