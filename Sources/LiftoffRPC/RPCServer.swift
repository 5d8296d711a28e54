// A gRPC server for unary and server-streaming methods over HTTP/2 with prior knowledge (h2c, as
// gRPC clients speak on a Unix socket): one channel handler per connection does framing, HPACK
// (NIOHPACK's decoder), flow control and the gRPC message framing, and starts one task per call.
//
// Why not grpc-swift's server: with 20 running pods a ListPodSandbox cost liftoff-cri ~0.33 ms of CPU,
// almost all in the general machinery (a child channel and pipeline per HTTP/2 stream, async
// sequences for a single message, interceptors) rather than in our handler; kubelet reads far more than
// it writes. This one does per call: one read, a header block decoded, one task, one write.
//
// What it serves: `application/grpc` requests with exactly one message (unary and server-streaming
// methods, which is all of the CRI), identity encoding only (a compressed message is refused with
// UNIMPLEMENTED), `grpc-timeout` (DEADLINE_EXCEEDED, the call's task cancelled), RST_STREAM from
// the client (the task cancelled), PING, SETTINGS, WINDOW_UPDATE, GOAWAY, graceful shutdown (GOAWAY,
// calls in flight finish, streaming calls end with UNAVAILABLE).
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A gRPC status other than OK: the code (gRPC's numbers) and the message for `grpc-message`.
public struct RPCStatus: Error, Sendable, Equatable {
  public var code: Int
  public var message: String
  public init(code: Int, message: String) {
    self.code = code
    self.message = message
  }

  public static let cancelledCode = 1
  public static let invalidArgumentCode = 3
  public static let deadlineExceededCode = 4
  public static let resourceExhaustedCode = 8
  public static let unimplementedCode = 12
  public static let internalCode = 13
  public static let unavailableCode = 14
}

/// What a method's handler knows of its call.
public struct RPCCall: Sendable {
  /// `/package.Service/Method`.
  public var path: String
  /// When the client gives up (`grpc-timeout`), if it said.
  public var deadline: NIODeadline?
}

/// The answers of a server-streaming call, written in order; `write` waits while the client's flow
/// control window holds more than a megabyte of them back, and throws once the call has ended (the
/// client cancelled, the connection closed).
public struct RPCStreamWriter: Sendable {
  let write: @Sendable (ByteBuffer) async throws -> Void
  public func write(_ message: ByteBuffer) async throws { try await write(message) }
}

public enum RPCMethod: Sendable {
  /// One request message in, one response message out (serialized).
  case unary(@Sendable (ByteBuffer, RPCCall) async throws -> ByteBuffer)
  /// One request message in, the answers through the writer; returning ends the call with OK.
  case serverStreaming(@Sendable (ByteBuffer, RPCCall, RPCStreamWriter) async throws -> Void)
}

public struct RPCServerLimits: Sendable {
  /// The largest request message accepted (containerd's default: 16 MiB); larger is RESOURCE_EXHAUSTED.
  public var maxRequestMessage = 16 << 20
  public var maxConcurrentStreams = 1000
  /// The largest header list (decoded) a request may have.
  public var maxHeaderListSize = 64 << 10
  public init() {}
}

public final class RPCServer: Sendable {
  let methods: [String: RPCMethod]
  let limits: RPCServerLimits
  let statusOf: @Sendable (any Error) -> RPCStatus
  let group: any EventLoopGroup
  private let state = NIOLockedValueBox(State())

  struct State {
    var listener: (any Channel)?
    var connections: [ObjectIdentifier: any Channel] = [:]
    var shuttingDown = false
    var allClosed: [CheckedContinuation<Void, Never>] = []
  }

  /// `statusOf` maps an error a handler threw to the status the client gets.
  public init(
    methods: [String: RPCMethod], limits: RPCServerLimits = RPCServerLimits(),
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    statusOf: @escaping @Sendable (any Error) -> RPCStatus
  ) {
    self.methods = methods
    self.limits = limits
    self.group = group
    self.statusOf = statusOf
  }

  /// Listens on a bound stream socket (it is made to listen here) and serves until a graceful shutdown
  /// has ended every connection. `ready` is called once the socket listens.
  public func serve(listeningSocket fd: Int32, ready: @escaping @Sendable () -> Void = {}) async throws {
    let listener = try await ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 256)
      .childChannelInitializer { [self] channel in
        channel.eventLoop.makeCompletedFuture {
          try self.adopt(channel)
        }
      }
      .withBoundSocket(fd).get()
    let closeNow = state.withLockedValue { state -> Bool in
      state.listener = listener
      return state.shuttingDown
    }
    if closeNow { try? await listener.close() }
    ready()
    try? await listener.closeFuture.get()
    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
      let now = state.withLockedValue { state -> Bool in
        if state.connections.isEmpty { return true }
        state.allClosed.append(done)
        return false
      }
      if now { done.resume() }
    }
  }

  private func adopt(_ channel: any Channel) throws {
    let id = ObjectIdentifier(channel)
    let refuse = state.withLockedValue { state -> Bool in
      if state.shuttingDown { return true }
      state.connections[id] = channel
      return false
    }
    if refuse {
      channel.close(promise: nil)
      return
    }
    try channel.pipeline.syncOperations.addHandler(
      RPCConnectionHandler(methods: methods, limits: limits, statusOf: statusOf))
    channel.closeFuture.whenComplete { [self] _ in
      let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
        state.connections[id] = nil
        guard state.connections.isEmpty else { return [] }
        defer { state.allClosed = [] }
        return state.allClosed
      }
      for w in waiters { w.resume() }
    }
  }

  /// Stops accepting connections; each connection gets a GOAWAY, its calls in flight finish (streaming
  /// calls end with UNAVAILABLE), then it closes, and `serve` returns. A connection still open after
  /// `grace` (a unary call that does not end: a client that never ends its request, a handler that
  /// hangs) is closed then, its calls' tasks cancelled; nil waits for them however long it takes.
  public func beginGracefulShutdown(grace: TimeAmount? = .seconds(30)) {
    let (listener, connections) = state.withLockedValue { state in
      state.shuttingDown = true
      return (state.listener, Array(state.connections.values))
    }
    listener?.close(promise: nil)
    for c in connections {
      c.pipeline.fireUserInboundEventTriggered(RPCConnectionHandler.GracefulShutdown())
    }
    guard let grace else { return }
    group.next().scheduleTask(in: grace) { [self] in
      let left = state.withLockedValue { Array($0.connections.values) }
      for c in left { c.close(promise: nil) }
    }
  }
}
