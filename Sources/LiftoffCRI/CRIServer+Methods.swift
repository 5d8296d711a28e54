// The CRI's methods as LiftoffRPC serves them: protobuf decoding and encoding around the generated
// service protocols' handlers (RuntimeService, ImageService), the metrics of each call, and the
// mapping of errors to gRPC statuses. CRIMethodsTests checks that every method of the generated
// services is here.
import GRPCCore
import LiftoffRPC
import NIOCore
import SwiftProtobuf
import Synchronization

extension CRIServer {
  static func methods(runtime: CRIRuntime) -> [String: RPCMethod] {
    let r = RuntimeService(runtime: runtime)
    let i = ImageService(runtime: runtime)
    let m = runtime.prometheus
    typealias RS = Runtime_V1_RuntimeService.Method
    typealias IS = Runtime_V1_ImageService.Method
    let table: [(String, RPCMethod)] = [
      unary(RS.Version.descriptor, m) { try await r.version(request: $0, context: $1) },
      unary(RS.RunPodSandbox.descriptor, m) { try await r.runPodSandbox(request: $0, context: $1) },
      unary(RS.StopPodSandbox.descriptor, m) { try await r.stopPodSandbox(request: $0, context: $1) },
      unary(RS.RemovePodSandbox.descriptor, m) { try await r.removePodSandbox(request: $0, context: $1) },
      unary(RS.PodSandboxStatus.descriptor, m) { try await r.podSandboxStatus(request: $0, context: $1) },
      cached(unary(RS.ListPodSandbox.descriptor, m) { try await r.listPodSandbox(request: $0, context: $1) }, runtime),
      streaming(RS.StreamPodSandboxes.descriptor, m) { try await r.streamPodSandboxes(request: $0, response: $1, context: $2) },
      unary(RS.CreateContainer.descriptor, m) { try await r.createContainer(request: $0, context: $1) },
      unary(RS.StartContainer.descriptor, m) { try await r.startContainer(request: $0, context: $1) },
      unary(RS.StopContainer.descriptor, m) { try await r.stopContainer(request: $0, context: $1) },
      unary(RS.RemoveContainer.descriptor, m) { try await r.removeContainer(request: $0, context: $1) },
      cached(unary(RS.ListContainers.descriptor, m) { try await r.listContainers(request: $0, context: $1) }, runtime),
      streaming(RS.StreamContainers.descriptor, m) { try await r.streamContainers(request: $0, response: $1, context: $2) },
      unary(RS.ContainerStatus.descriptor, m) { try await r.containerStatus(request: $0, context: $1) },
      unary(RS.UpdateContainerResources.descriptor, m) { try await r.updateContainerResources(request: $0, context: $1) },
      unary(RS.ReopenContainerLog.descriptor, m) { try await r.reopenContainerLog(request: $0, context: $1) },
      unary(RS.ExecSync.descriptor, m) { try await r.execSync(request: $0, context: $1) },
      unary(RS.Exec.descriptor, m) { try await r.exec(request: $0, context: $1) },
      unary(RS.Attach.descriptor, m) { try await r.attach(request: $0, context: $1) },
      unary(RS.PortForward.descriptor, m) { try await r.portForward(request: $0, context: $1) },
      unary(RS.ContainerStats.descriptor, m) { try await r.containerStats(request: $0, context: $1) },
      unary(RS.ListContainerStats.descriptor, m) { try await r.listContainerStats(request: $0, context: $1) },
      streaming(RS.StreamContainerStats.descriptor, m) { try await r.streamContainerStats(request: $0, response: $1, context: $2) },
      unary(RS.PodSandboxStats.descriptor, m) { try await r.podSandboxStats(request: $0, context: $1) },
      unary(RS.ListPodSandboxStats.descriptor, m) { try await r.listPodSandboxStats(request: $0, context: $1) },
      streaming(RS.StreamPodSandboxStats.descriptor, m) { try await r.streamPodSandboxStats(request: $0, response: $1, context: $2) },
      unary(RS.UpdateRuntimeConfig.descriptor, m) { try await r.updateRuntimeConfig(request: $0, context: $1) },
      unary(RS.Status.descriptor, m) { try await r.status(request: $0, context: $1) },
      unary(RS.CheckpointContainer.descriptor, m) { try await r.checkpointContainer(request: $0, context: $1) },
      streaming(RS.GetContainerEvents.descriptor, m) { try await r.getContainerEvents(request: $0, response: $1, context: $2) },
      unary(RS.ListMetricDescriptors.descriptor, m) { try await r.listMetricDescriptors(request: $0, context: $1) },
      unary(RS.ListPodSandboxMetrics.descriptor, m) { try await r.listPodSandboxMetrics(request: $0, context: $1) },
      streaming(RS.StreamPodSandboxMetrics.descriptor, m) { try await r.streamPodSandboxMetrics(request: $0, response: $1, context: $2) },
      unary(RS.RuntimeConfig.descriptor, m) { try await r.runtimeConfig(request: $0, context: $1) },
      unary(RS.UpdatePodSandboxResources.descriptor, m) { try await r.updatePodSandboxResources(request: $0, context: $1) },
      unary(IS.ListImages.descriptor, m) { try await i.listImages(request: $0, context: $1) },
      streaming(IS.StreamImages.descriptor, m) { try await i.streamImages(request: $0, response: $1, context: $2) },
      unary(IS.ImageStatus.descriptor, m) { try await i.imageStatus(request: $0, context: $1) },
      unary(IS.PullImage.descriptor, m) { try await i.pullImage(request: $0, context: $1) },
      unary(IS.RemoveImage.descriptor, m) { try await i.removeImage(request: $0, context: $1) },
      unary(IS.ImageFsInfo.descriptor, m) { try await i.imageFsInfo(request: $0, context: $1) },
    ]
    return Dictionary(table, uniquingKeysWith: { first, _ in first })
  }

  /// The gRPC status of an error a handler threw (rpcError maps LiftoffError and the rest).
  static func status(of error: any Error) -> RPCStatus {
    if let status = error as? RPCStatus { return status }
    let e = rpcError(error)
    return RPCStatus(code: e.code.rawValue, message: e.message)
  }
}

/// ListPodSandbox and ListContainers answer from the pod index alone: their last answers per request
/// (its bytes) are kept with the index generation they were computed at, and given again while the
/// generation is the same. kubelet's relist asks the same every second; a change of any pod (an RPC's
/// write, stage1's word of an exit, a reload) moves the generation on. The generation is read before
/// the answer is computed, so an answer is never older than the generation it is kept under.
private func cached(_ entry: (String, RPCMethod), _ runtime: CRIRuntime) -> (String, RPCMethod) {
  guard case .unary(let compute) = entry.1 else { return entry }
  let cache = AnswerCache()
  return (
    entry.0,
    .unary { request, call in
      let generation = try runtime.index.generation()
      if let answer = cache.answer(request, generation: generation) {
        runtime.trimmer.noteActivity()
        return answer
      }
      let answer = try await compute(request, call)
      cache.keep(request, answer, generation: generation)
      return answer
    }
  )
}

/// One list RPC's kept answers: a few distinct requests (kubelet sends one or two filters), all dropped
/// when there are more.
final class AnswerCache: Sendable {
  private let entries = Mutex<[ByteBuffer: (generation: UInt64, answer: ByteBuffer)]>([:])

  func answer(_ request: ByteBuffer, generation: UInt64) -> ByteBuffer? {
    entries.withLock { e in e[request].flatMap { $0.generation == generation ? $0.answer : nil } }
  }

  func keep(_ request: ByteBuffer, _ answer: ByteBuffer, generation: UInt64) {
    entries.withLock { e in
      if e.count >= 8 && e[request] == nil { e = [:] }
      // The request's own bytes, not the connection's read buffer it is a slice of.
      e[ByteBuffer(bytes: request.readableBytesView)] = (generation, answer)
    }
  }
}

private func context(_ descriptor: MethodDescriptor) -> ServerContext {
  ServerContext(descriptor: descriptor, remotePeer: "unix:", localPeer: "unix:", cancellation: .init())
}

private func decode<Request: SwiftProtobuf.Message>(_ bytes: ByteBuffer, _ descriptor: MethodDescriptor) throws -> Request {
  do {
    return try Request(serializedBytes: ProtobufBytes(bytes))
  } catch {
    throw RPCStatus(
      code: RPCStatus.invalidArgumentCode, message: "\(descriptor.method): cannot decode the request message: \(error)")
  }
}

private func encode(_ message: some SwiftProtobuf.Message) throws -> ByteBuffer {
  let bytes: ProtobufBytes = try message.serializedBytes()
  return bytes.buffer
}

private func unary<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
  _ descriptor: MethodDescriptor, _ metrics: PrometheusMetrics,
  _ handler: @escaping @Sendable (Request, ServerContext) async throws -> Response
) -> (String, RPCMethod) {
  let name = descriptor.method
  return (
    "/" + descriptor.fullyQualifiedMethod,
    .unary { bytes, _ in
      let began = ContinuousClock.now
      do {
        let response = try await handler(try decode(bytes, descriptor), context(descriptor))
        metrics.observeRPC(name, duration: ContinuousClock.now - began, failure: nil)
        return try encode(response)
      } catch {
        metrics.observeRPC(name, duration: ContinuousClock.now - began, failure: rpcCode(error))
        throw error
      }
    }
  )
}

private func streaming<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>(
  _ descriptor: MethodDescriptor, _ metrics: PrometheusMetrics,
  _ handler: @escaping @Sendable (Request, RPCWriter<Response>, ServerContext) async throws -> Void
) -> (String, RPCMethod) {
  let name = descriptor.method
  return (
    "/" + descriptor.fullyQualifiedMethod,
    .serverStreaming { bytes, _, writer in
      let began = ContinuousClock.now
      do {
        try await handler(try decode(bytes, descriptor), RPCWriter(wrapping: ProtobufWriter(writer: writer)), context(descriptor))
        metrics.observeRPC(name, duration: ContinuousClock.now - began, failure: nil)
      } catch {
        metrics.observeRPC(name, duration: ContinuousClock.now - began, failure: rpcCode(error))
        throw error
      }
    }
  )
}

private func rpcCode(_ error: any Error) -> RPCError.Code {
  if let status = error as? RPCStatus { return Status.Code(rawValue: status.code).flatMap { RPCError.Code($0) } ?? .unknown }
  return rpcError(error).code
}

/// A streaming call's answers, encoded.
private struct ProtobufWriter<Element: SwiftProtobuf.Message>: RPCWriterProtocol {
  let writer: RPCStreamWriter
  func write(_ element: Element) async throws {
    try await writer.write(try encode(element))
  }
  func write(contentsOf elements: some Sequence<Element>) async throws {
    for e in elements { try await write(e) }
  }
}

/// A ByteBuffer as SwiftProtobuf reads and writes bytes: decoding straight from the request's bytes.
struct ProtobufBytes: SwiftProtobufContiguousBytes {
  var buffer: ByteBuffer

  init(_ buffer: ByteBuffer) { self.buffer = buffer }

  init(repeating: UInt8, count: Int) {
    buffer = ByteBufferAllocator().buffer(capacity: count)
    buffer.writeRepeatingByte(repeating, count: count)
  }

  init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
    buffer = ByteBufferAllocator().buffer(capacity: 0)
    buffer.writeBytes(sequence)
  }

  var count: Int { buffer.readableBytes }

  func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try buffer.withUnsafeReadableBytes(body)
  }

  mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
    try buffer.withUnsafeMutableReadableBytes(body)
  }
}
