// The CRI socket's server (LiftoffRPC) serves exactly the methods of the generated services: the table
// in CRIServer+Methods.swift against what grpc-swift's generated code registers.
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
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

  @Test func aKeptAnswerHoldsForItsGenerationOnly() {
    let cache = AnswerCache()
    let request = ByteBuffer(bytes: [1, 2, 3])
    #expect(cache.answer(request, generation: 1) == nil)
    cache.keep(request, ByteBuffer(string: "a"), generation: 1)
    #expect(cache.answer(request, generation: 1) == ByteBuffer(string: "a"))
    #expect(cache.answer(request, generation: 2) == nil)
    #expect(cache.answer(ByteBuffer(bytes: [1, 2]), generation: 1) == nil)
    for i in 0..<8 { cache.keep(ByteBuffer(bytes: [UInt8(i)]), ByteBuffer(string: "x"), generation: 1) }
    #expect(cache.answer(request, generation: 1) == nil, "a ninth request empties the cache")
  }
}
