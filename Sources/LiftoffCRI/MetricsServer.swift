// The Prometheus scrape endpoint of liftoff-cri (`--metrics-address HOST:PORT`, off by default):
// plain HTTP/1.1, `GET /metrics` answers the text exposition format (version 0.0.4); any other path
// is 404 and any other method 405. Each connection is served by its own task, so rendering (which
// reads the pods from disk) never runs on an event loop; shutdown() stops listening and ends them.
import Foundation
import LiftoffCore
import LiftoffStreaming
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

public final class MetricsServer: Sendable {
  let host: String
  let requestedPort: Int
  let render: @Sendable () -> [UInt8]
  let logger: Logger

  private struct State {
    var serverChannel: (any Channel)?
    var serveTask: Task<Void, Never>?
    var port: Int?
  }
  private let state = Mutex(State())

  public init(host: String, port: Int, logger: Logger, render: @escaping @Sendable () -> [UInt8]) {
    self.host = host
    requestedPort = port
    self.logger = logger
    self.render = render
  }

  /// The port it listens on (after start()).
  public var port: Int? { state.withLock { $0.port } }

  public func start() async throws {
    let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    do {
      channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .bind(host: host, port: requestedPort) { child in
          child.eventLoop.makeCompletedFuture {
            try child.pipeline.syncOperations.configureHTTPServerPipeline()
            return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: child)
          }
        }
    } catch {
      throw LiftoffError(.invalidArgument, "cannot listen for metrics on \(host):\(requestedPort): \(error)")
    }
    let task = acceptConnections(channel, logger: logger, what: "metrics server") { await self.serve($0) }
    let port = channel.channel.localAddress?.port
    state.withLock {
      $0.serverChannel = channel.channel
      $0.serveTask = task
      $0.port = port
    }
    let shown = host.contains(":") ? "[\(host)]" : host
    logger.info("metrics server listening", metadata: ["url": "http://\(shown):\(port ?? requestedPort)/metrics"])
  }

  public func shutdown() async {
    let (channel, task) = state.withLock { s in
      defer { s.serverChannel = nil; s.serveTask = nil }
      return (s.serverChannel, s.serveTask)
    }
    try? await channel?.close()
    task?.cancel()
    await task?.value
  }

  private func serve(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
    do {
      try await connection.executeThenClose { inbound, outbound in
        var head: NIOHTTP1.HTTPRequestHead?
        for try await part in inbound {
          switch part {
          case .head(let h): head = h
          case .body: continue
          case .end:
            guard let h = head else { continue }
            head = nil
            let path = h.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? h.uri
            let status: HTTPResponseStatus
            let body: [UInt8]
            var headers = HTTPHeaders()
            if path != "/metrics" {
              (status, body) = (.notFound, Array("not found: only /metrics is served here\n".utf8))
            } else if h.method != .GET {
              (status, body) = (.methodNotAllowed, Array("method \(h.method) not allowed: use GET\n".utf8))
              headers.add(name: "Allow", value: "GET")
            } else {
              (status, body) = (.ok, render())
            }
            headers.add(
              name: "Content-Type",
              value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
            headers.add(name: "Content-Length", value: "\(body.count)")
            if !h.isKeepAlive { headers.add(name: "Connection", value: "close") }
            try await outbound.write(.head(HTTPResponseHead(version: h.version, status: status, headers: headers)))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: body))))
            try await outbound.write(.end(nil))
            if !h.isKeepAlive { return }
          }
        }
      }
    } catch {
      logger.debug("metrics connection ended", metadata: ["error": "\(error)"])
    }
  }
}
