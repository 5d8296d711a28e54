// liftoff-cri's streaming server: the HTTP endpoint that the URLs of the CRI Exec, Attach and
// PortForward responses point at (kubelet proxies to it; crictl connects to it directly).
//
//   register(request) → http://HOST:PORT/{exec,attach,portforward}/<token>   (one use, 1 minute)
//
//   client                                   server
//   GET /exec/<token> HTTP/1.1               token taken (unknown, used or expired → 404)
//     Upgrade: SPDY/3.1                      X-Stream-Protocol-Version negotiated (client's order)
//     X-Stream-Protocol-Version: v4…         → 101, then SPDY: RemoteCommandSession / PortForwardSession
//   or
//     Upgrade: websocket                     Sec-WebSocket-Protocol negotiated → 101, then
//     Sec-WebSocket-Protocol: v5.channel…    channel-prefixed messages, or SPDY inside binary messages
//                                            (SPDY/3.1+portforward.k8s.io)
//
// Every connection is served by its own task; shutdown() stops listening and cancels them all: the
// backends stop their work, each session tries to tell its client, and the connection closes.
//
// Limits, for clients that are not kubelet or crictl (the port may be reachable by others): at most
// `maxConnections` (256) at once — one more gets 503 and is closed; the request head must arrive
// whole within `headTimeout` (10 s) of the connection — a client that sends nothing, or a byte a
// second (slowloris), is closed then — and be at most 16 KiB (431 otherwise).
//
// Ending a connection: this side half-closes (SPDY GOAWAY and a TCP FIN; a WebSocket close frame), then
// waits for the client's close or EOF, at most `closeTimeout` (5 s), then closes (PeerClose.swift). A
// client that has already closed ends the wait at once.
import Foundation
import LiftoffCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import NIOSSL
import Synchronization

public final class StreamingServer: Sendable {
  public static let remoteCommandSPDYProtocols = ["v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"]
  public static let remoteCommandWebSocketProtocols = ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"]
  public static let portForwardSPDYProtocols = ["portforward.k8s.io"]
  public static let portForwardWebSocketProtocols = ["SPDY/3.1+portforward.k8s.io"]

  public let address: String
  let requestedPort: Int
  /// PEM certificate and key paths when the server speaks HTTPS.
  let tls: (certificate: String, key: String)?
  let backend: any StreamingBackend
  let logger: Logger
  let tokens: StreamTokenCache
  /// How long a client has to open the streams of an exec/attach session (kubelet: 30 s).
  let streamCreationTimeout: Duration
  /// How long a client has to send its whole request head after connecting.
  let headTimeout: Duration
  /// Connections served at once; more are refused with 503.
  let maxConnections: Int
  /// After this side has half-closed, how long the client has to close its side.
  let closeTimeout: Duration
  /// How long a refused connection (503) may take to read the answer and close.
  static let refusedCloseTimeout: Duration = .seconds(1)
  private let openConnections = Mutex(0)

  private struct State {
    var port: Int?
    var serverChannel: (any Channel)?
    var serveTask: Task<Void, Never>?
  }
  private let state = Mutex(State())

  public init(
    address: String = "127.0.0.1", port: Int = 0, tls: (certificate: String, key: String)? = nil,
    backend: any StreamingBackend, logger: Logger,
    tokenTTL: Duration = .seconds(60), streamCreationTimeout: Duration = .seconds(30),
    headTimeout: Duration = .seconds(10), maxConnections: Int = 256, closeTimeout: Duration = .seconds(5),
    clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
  ) {
    self.address = address
    requestedPort = port
    self.tls = tls
    self.backend = backend
    self.logger = logger
    tokens = StreamTokenCache(ttl: tokenTTL, now: clock)
    self.streamCreationTimeout = streamCreationTimeout
    self.headTimeout = headTimeout
    self.maxConnections = maxConnections
    self.closeTimeout = closeTimeout
  }

  /// Connections being served (refused ones not counted).
  var openConnectionCount: Int { openConnections.withLock { $0 } }

  /// The port the server listens on (after start()).
  public var port: Int? { state.withLock { $0.port } }

  /// http://HOST:PORT (https with TLS), with the real port.
  public var baseURL: String {
    let host = address.contains(":") ? "[\(address)]" : address
    return "\(tls == nil ? "http" : "https")://\(host):\(port ?? requestedPort)"
  }

  /// Binds the listening socket and serves in the background.
  public func start() async throws {
    // A backend writing into a pipe whose reader died must get EPIPE, not kill liftoff-cri.
    signal(SIGPIPE, SIG_IGN)
    let channel: NIOAsyncChannel<AcceptedConnection, Never>
    // Optional TLS: the same byte streams, decrypted by NIOSSL before the HTTP/SPDY/WebSocket code.
    let sslContext: NIOSSLContext?
    do {
      sslContext = try tls.map { tls in
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
        return try NIOSSLContext(configuration: .makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key)))
      }
    } catch {
      throw LiftoffError(.invalidArgument, "streaming TLS certificate \(tls?.certificate ?? "") or key \(tls?.key ?? ""): \(error)")
    }
    do {
      channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .serverChannelOption(.backlog, value: 256)
        .bind(host: address, port: requestedPort) { child in
          child.eventLoop.makeCompletedFuture { () throws -> AcceptedConnection in
            if let sslContext { try child.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext)) }
            let admitted = self.openConnections.withLock { n in
              guard n < self.maxConnections else { return false }
              n += 1
              return true
            }
            guard admitted else {
              try child.pipeline.syncOperations.addHandler(HTTPResponseEncoder())
              return .refused(try NIOAsyncChannel(wrappingChannelSynchronously: child))
            }
            do {
              let remote = child.remoteAddress.map { "\($0)" } ?? "?"
              let upgrade = try HTTPHeadRouter.install(
                on: child, headTimeout: TimeAmount(self.headTimeout),
                onTimeout: { [logger = self.logger] in
                  logger.debug("streaming connection closed: no request head in time", metadata: ["remote": "\(remote)"])
                },
                route: { self.route($0) })
              return .admitted(child, upgrade)
            } catch {
              self.openConnections.withLock { $0 -= 1 }
              throw error
            }
          }
        }
    } catch {
      throw LiftoffError(
        .invalidArgument, "cannot listen for streaming on \(address):\(requestedPort): \(error)")
    }
    let port = channel.channel.localAddress?.port
    let task = acceptConnections(channel, logger: logger, what: "streaming server") { accepted in
      switch accepted {
      case .refused(let connection):
        await self.refuse(connection)
      case .admitted(let connection, let upgrade):
        await self.serve(connection, upgrade)
        self.openConnections.withLock { $0 -= 1 }
      }
    }
    state.withLock {
      $0.port = port
      $0.serverChannel = channel.channel
      $0.serveTask = task
    }
    logger.info("streaming server listening", metadata: ["url": "\(baseURL)"])
  }

  /// Stops listening, ends every open session (their clients are told where the protocol allows) and
  /// waits until they are gone.
  public func shutdown() async {
    let (channel, task) = state.withLock { s in
      defer { s.serverChannel = nil; s.serveTask = nil }
      return (s.serverChannel, s.serveTask)
    }
    try? await channel?.close()
    task?.cancel()
    await task?.value
  }

  /// A one-use URL for `request`, valid for the token TTL.
  public func register(_ request: StreamRequest) throws -> String {
    if case .exec(let e) = request, e.cmd.isEmpty {
      throw LiftoffError.invalidArgument("exec of container \(e.containerID): cmd is empty")
    }
    switch request {
    case .exec(let e) where !e.stdin && !e.stdout && !e.stderr:
      throw LiftoffError.invalidArgument("exec of container \(e.containerID): one of stdin, stdout, stderr is required")
    case .attach(let a) where !a.stdin && !a.stdout && !a.stderr:
      throw LiftoffError.invalidArgument("attach to container \(a.containerID): one of stdin, stdout, stderr is required")
    default: break
    }
    let token = try tokens.insert(request)
    return "\(baseURL)/\(request.kind)/\(token)"
  }

  // MARK: one connection

  /// A connection over the cap: 503, a half-close, and whatever the client still sends read until it
  /// closes (closing with its request unread would send a RST, which can overtake the 503); closed
  /// after `refusedCloseTimeout` in any case, even if it never reads.
  private func refuse(_ connection: NIOAsyncChannel<ByteBuffer, HTTPServerResponsePart>) async {
    logger.warning("streaming connection refused: too many open", metadata: ["limit": "\(maxConnections)"])
    let channel = connection.channel
    let deadline = Task {
      try await Task.sleep(for: Self.refusedCloseTimeout)
      try? await channel.close()
    }
    defer { deadline.cancel() }
    try? await connection.executeThenClose { inbound, outbound in
      try await outbound.write(
        contentsOf: HTTPHead.errorParts(.serviceUnavailable, body: "too many streaming connections (at most \(maxConnections))"))
      try await channel.close(mode: .output)
      for try await _ in inbound {}
    }
  }

  /// A connection after its head: nothing more (answered, closed, timed out), or the session it upgraded to.
  private func serve(_ channel: any Channel, _ upgrade: EventLoopFuture<StreamingUpgrade>) async {
    let remote = channel.remoteAddress.map { "\($0)" } ?? "?"
    // Waiting for the head: a shutdown closes the connection, which settles the outcome.
    let outcome = await withTaskCancellationHandler {
      (try? await upgrade.get()) ?? .none
    } onCancel: {
      channel.close(promise: nil)
    }
    switch outcome {
    case .none:
      return
    case .spdy(let request, let chosen, let connection):
      let log = logger.with(["remote": "\(remote)", "stream": "\(request.kind)"])
      log.debug("spdy session", metadata: ["protocol": "\(chosen)"])
      do {
        try await connection.executeThenClose { inbound, outbound in
          var iterator = inbound.makeAsyncIterator()
          let reader = ByteReader {
            guard var buffer = try await iterator.next() else { return nil }
            return buffer.readBytes(length: buffer.readableBytes)
          }
          let writer = NIOByteWriter(outbound: outbound, channel: connection.channel)
          await self.runSPDYSession(request: request, protocol: chosen, reader: reader, writer: writer, log: log)
        }
      } catch {
        log.debug("streaming connection ended", metadata: ["error": "\(error)"])
      }
    case .webSocket(let request, let chosen, let connection):
      let log = logger.with(["remote": "\(remote)", "stream": "\(request.kind)"])
      log.debug("websocket session", metadata: ["protocol": "\(chosen)"])
      do {
        try await connection.executeThenClose { inbound, outbound in
          let ws = WebSocketConnection(role: .server, outbound: outbound, channel: connection.channel)
          await self.serveWebSocket(request: request, protocol: chosen, ws: ws, frames: WebSocketInbound(inbound), log: log)
        }
      } catch {
        log.debug("streaming connection ended", metadata: ["error": "\(error)"])
      }
    }
  }

  /// The answer to a request head, on the event loop as it arrives: the token taken (unknown, used or
  /// expired → 404) and the protocol negotiated, or an error.
  func route(_ head: HTTPRequestHead) -> HeadDecision {
    let path = HTTPHead.path(head.uri)
    let parts = path.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0].isEmpty, ["exec", "attach", "portforward"].contains(parts[1]) else {
      return .refuse(.notFound, body: "no streaming endpoint at \(path)")
    }
    guard let request = tokens.take(String(parts[2])), request.kind == parts[1] else {
      return .refuse(.notFound, body: "streaming token \(parts[2]) is unknown, used or expired")
    }
    switch HTTPHead.upgradeProtocol(head) {
    case "websocket": return routeWebSocket(head, request)
    case "spdy/3.1": return routeSPDY(head, request)
    default: break
    }
    return .refuse(.badRequest, body: "unable to upgrade: the request must upgrade the connection to SPDY/3.1 or websocket")
  }

  /// The first of the client's protocols (in its order) that the server supports.
  static func negotiate(client: [String], server: [String]) -> String? {
    client.first { server.contains($0) }
  }

  private func routeSPDY(_ head: HTTPRequestHead, _ request: StreamRequest) -> HeadDecision {
    let supported: [String]
    if case .portForward = request { supported = Self.portForwardSPDYProtocols } else { supported = Self.remoteCommandSPDYProtocols }
    let offered = HTTPHead.values(head.headers, "X-Stream-Protocol-Version")
    guard !offered.isEmpty else {
      return .refuse(.badRequest, body: "unable to upgrade: X-Stream-Protocol-Version is required")
    }
    guard let chosen = Self.negotiate(client: offered, server: supported) else {
      return .refuse(
        .forbidden, body: "unable to upgrade: unable to negotiate protocol: client supports \(offered), server accepts \(supported)",
        headers: supported.map { ("X-Accepted-Stream-Protocol-Versions", $0) })
    }
    return .spdy(request, protocol: chosen)
  }

  private func routeWebSocket(_ head: HTTPRequestHead, _ request: StreamRequest) -> HeadDecision {
    let version = head.headers.first(name: "Sec-WebSocket-Version")?.trimmingCharacters(in: .whitespaces)
    let key = head.headers.first(name: "Sec-WebSocket-Key")?.trimmingCharacters(in: .whitespaces) ?? ""
    guard version == "13", !key.isEmpty else {
      return .refuse(
        .badRequest, body: "websocket upgrade needs Sec-WebSocket-Version 13 and a Sec-WebSocket-Key",
        headers: [("Sec-WebSocket-Version", "13")])
    }
    let supported: [String]
    if case .portForward = request { supported = Self.portForwardWebSocketProtocols } else { supported = Self.remoteCommandWebSocketProtocols }
    let offered = HTTPHead.values(head.headers, "Sec-WebSocket-Protocol")
    guard let chosen = Self.negotiate(client: offered, server: supported) else {
      return .refuse(.forbidden, body: "unable to upgrade: websocket protocols \(offered) are not supported; supported: \(supported)")
    }
    return .webSocket(request, protocol: chosen, accept: WebSocket.acceptKey(for: key))
  }

  /// A SPDY session on `reader`/`writer` (a TCP connection, or the inside of a WebSocket).
  func runSPDYSession(request: StreamRequest, protocol chosen: String, reader: ByteReader, writer: any ByteWriter, log: Logger) async {
    let spdy: SPDYConnection
    do { spdy = try SPDYConnection(role: .server, writer: writer) } catch {
      log.error("cannot start a spdy session", metadata: ["error": "\(error)"])
      return
    }
    // Fired when the reader ends: the client closed (EOF, or the close frame around a tunnel) or broke
    // the protocol.
    let peerClosed = OneShotEvent()
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        switch request {
        case .portForward(let pf):
          await PortForwardSession(request: pf, backend: self.backend, log: log).run(spdy)
        case .exec, .attach:
          let version = RemoteCommandVersion(spdyProtocol: chosen)
          await RemoteCommandSession(request: request, version: version, backend: self.backend, log: log)
            .runSPDY(spdy, streamCreationTimeout: self.streamCreationTimeout)
        }
        // Done: no new streams (GOAWAY) and nothing more from this side (half-close); the client closes
        // once it has read the outcome. Sent even when the session was cancelled (server shutdown).
        await Task {
          await spdy.goAway()
          await writer.closeOutput()
        }.value
        await peerClosed.wait(upTo: self.closeTimeout)
        await writer.close()
      }
      await spdy.run(reader: reader)
      peerClosed.fire()
      group.cancelAll()
    }
  }

  private func serveWebSocket(
    request: StreamRequest, protocol chosen: String, ws: WebSocketConnection, frames: WebSocketInbound, log: Logger
  ) async {
    switch request {
    case .portForward:
      // SPDY/3.1+portforward.k8s.io: the SPDY byte stream inside binary messages, both ways.
      let tunnelReader = ByteReader {
        while let message = try await ws.readMessage(from: frames) {
          guard message.opcode == .binary else { throw WebSocketError.protocolError("text message in a spdy tunnel") }
          if !message.payload.isEmpty { return message.payload }
        }
        return nil
      }
      await runSPDYSession(
        request: request, protocol: "portforward.k8s.io", reader: tunnelReader,
        writer: WebSocketTunnelWriter(ws: ws), log: log)
    case .exec, .attach:
      let version = RemoteCommandVersion(webSocketProtocol: chosen)
      await RemoteCommandSession(request: request, version: version, backend: backend, log: log)
        .runWebSocket(ws, frames: frames, closeTimeout: closeTimeout)
    }
  }
}

/// A connection as the listener hands it on: over the cap (answered 503 on its raw bytes), or admitted
/// with its head being read (the outcome when the head is answered or upgraded).
enum AcceptedConnection: Sendable {
  case refused(NIOAsyncChannel<ByteBuffer, HTTPServerResponsePart>)
  case admitted(any Channel, EventLoopFuture<StreamingUpgrade>)
}

/// Writes to a NIO channel; close() closes it.
struct NIOByteWriter: ByteWriter {
  let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
  let channel: any Channel

  func write(_ bytes: [UInt8]) async throws {
    try await outbound.write(ByteBuffer(bytes: bytes))
  }

  func close() async {
    try? await channel.close()
  }

  /// A FIN (after TLS's close_notify); the connection closes instead where half-closing is refused.
  func closeOutput() async {
    do { try await channel.close(mode: .output) } catch { try? await channel.close() }
  }
}

/// SPDY bytes as WebSocket binary messages; closeOutput() sends the close frame (the WebSocket's
/// half-close), close() sends it if not sent yet and closes the connection.
struct WebSocketTunnelWriter: ByteWriter {
  let ws: WebSocketConnection

  func write(_ bytes: [UInt8]) async throws { try await ws.sendBinary(bytes) }

  func closeOutput() async { await ws.close() }

  func close() async {
    await ws.close()
    await ws.closeTransport()
  }
}

extension Logger {
  func with(_ metadata: Logger.Metadata) -> Logger {
    var copy = self
    for (k, v) in metadata { copy[metadataKey: k] = v }
    return copy
  }
}
