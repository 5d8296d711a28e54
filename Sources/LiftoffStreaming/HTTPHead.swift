// The HTTP/1.1 request head a streaming client sends before it upgrades the connection, decoded by
// NIOHTTP1, and the handlers around the decoder that enforce the limits and switch the connection to
// the protocol the head asked for. The server speaks no more HTTP than that: every request is an upgrade
// to SPDY/3.1 or WebSocket, or gets an error.
//
//   pipeline until the head:  [TLS] → HTTPHeadLimitHandler → HTTPRequestDecoder → HTTPResponseEncoder
//                             → HTTPHeadRouter
//   after a 101:              [TLS] → NIOAsyncChannel (the bytes after the head first); for WebSocket
//                             the frame handlers before it (WebSocket.swift)
//
// HTTPHeadLimitHandler: the head must arrive whole within the head timeout (the connection is closed
// then) and be at most `maxHeadSize` bytes (431). HTTPHeadRouter: the decision (StreamingServer.route)
// is made on the event loop as the head arrives; an error is answered and the connection closed, an
// upgrade gets its 101, the HTTP handlers leave the pipeline and the connection is handed on.
import Foundation
import NIOCore
import NIOHTTP1
import NIOWebSocket

/// What became of a connection's request head.
enum StreamingUpgrade: Sendable {
  /// SPDY/3.1 (`protocol` the negotiated X-Stream-Protocol-Version) on the connection's bytes.
  case spdy(StreamRequest, protocol: String, NIOAsyncChannel<ByteBuffer, ByteBuffer>)
  /// WebSocket (`protocol` the negotiated Sec-WebSocket-Protocol): the connection's frames.
  case webSocket(StreamRequest, protocol: String, NIOAsyncChannel<WebSocketFrame, WebSocketFrame>)
  /// Answered with an error, timed out or closed by the client: nothing to serve.
  case none
}

/// The server's answer to a request head.
enum HeadDecision {
  case refuse(HTTPResponseStatus, body: String, headers: [(String, String)] = [])
  case spdy(StreamRequest, protocol: String)
  case webSocket(StreamRequest, protocol: String, accept: String)
}

/// The head is larger than `maxHeadSize`.
struct HTTPHeadTooLarge: Error {}

enum HTTPHead {
  static let maxHeadSize = 16384

  /// The decoder with the head's limits: header names and values at most `maxHeadSize` in all.
  static func decoder() -> ByteToMessageHandler<HTTPRequestDecoder> {
    var limits = NIOHTTPDecoderLimitConfiguration()
    limits.maxHeaderFieldSize = maxHeadSize
    limits.maxHeaderListSize = maxHeadSize
    limits.maxHeaderFieldCount = 1000
    return ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .forwardBytes, limitConfiguration: limits))
  }

  /// The path without the query.
  static func path(_ uri: String) -> String {
    String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
  }

  /// Every value of a header, from repeated lines and comma-separated lists, trimmed, empty ones dropped.
  static func values(_ headers: HTTPHeaders, _ name: String) -> [String] {
    headers[canonicalForm: name].map(String.init).filter { !$0.isEmpty }
  }

  /// The protocol a head asks to upgrade to (lowercased): an Upgrade header and `upgrade` in Connection.
  static func upgradeProtocol(_ head: HTTPRequestHead) -> String? {
    guard values(head.headers, "Connection").contains(where: { $0.lowercased() == "upgrade" }),
      let upgrade = head.headers.first(name: "Upgrade")
    else { return nil }
    return upgrade.trimmingCharacters(in: .whitespaces).lowercased()
  }

  /// A complete error response: a text body, `Connection: close`.
  static func errorParts(_ status: HTTPResponseStatus, body: String, headers extra: [(String, String)] = []) -> [HTTPServerResponsePart] {
    let text = body + "\n"
    var headers = HTTPHeaders([
      ("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "\(text.utf8.count)"), ("Connection", "close"),
    ])
    headers.add(contentsOf: extra)
    return [
      .head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)),
      .body(.byteBuffer(ByteBuffer(string: text))), .end(nil),
    ]
  }
}

/// Before the decoder: closes the connection when the request has not been upgraded within `timeout`,
/// and fails it (HTTPHeadTooLarge, answered 431 by the router) when more than `limit` bytes came without
/// a head. Passes everything through once the head is there.
final class HTTPHeadLimitHandler: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = ByteBuffer
  typealias InboundOut = ByteBuffer

  private let limit: Int
  private let timeout: TimeAmount
  private let onTimeout: () -> Void
  private var received = 0
  private var headArrived = false
  private var overLimit = false
  private var timer: Scheduled<Void>?

  init(limit: Int = HTTPHead.maxHeadSize, timeout: TimeAmount, onTimeout: @escaping () -> Void = {}) {
    self.limit = limit
    self.timeout = timeout
    self.onTimeout = onTimeout
  }

  func handlerAdded(context: ChannelHandlerContext) {
    // Until the upgrade removes this handler (or the connection closes): a head that came but whose
    // request never ended (a body trickled) is held no longer either.
    timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
      onTimeout()
      context.close(promise: nil)
    }
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    timer?.cancel()
  }

  /// The router has the head: no more counting.
  func head() {
    headArrived = true
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !headArrived else { return context.fireChannelRead(data) }
    guard !overLimit else { return }
    received += unwrapInboundIn(data).readableBytes
    context.fireChannelRead(data)
    // The decoder has had the bytes: if they held no whole head and are already more than a head may
    // be, it cannot be one.
    if !headArrived && received > limit {
      overLimit = true
      context.fireErrorCaught(HTTPHeadTooLarge())
    }
  }
}

/// After the decoder: decides on the head and answers it, or switches the connection to the upgraded
/// protocol and hands it on through `result`.
final class HTTPHeadRouter: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private enum State { case waiting, routed(HeadDecision), ending(HeadDecision), done }
  private var state = State.waiting
  private let limiter: HTTPHeadLimitHandler
  private let decoder: ByteToMessageHandler<HTTPRequestDecoder>
  private let encoder: HTTPResponseEncoder
  private let route: (HTTPRequestHead) -> HeadDecision
  private let handOff: (HeadDecision, any Channel) throws -> StreamingUpgrade
  private let result: EventLoopPromise<StreamingUpgrade>
  private var settled = false

  init(
    limiter: HTTPHeadLimitHandler, decoder: ByteToMessageHandler<HTTPRequestDecoder>, encoder: HTTPResponseEncoder,
    result: EventLoopPromise<StreamingUpgrade>, route: @escaping (HTTPRequestHead) -> HeadDecision,
    handOff: @escaping (HeadDecision, any Channel) throws -> StreamingUpgrade
  ) {
    self.limiter = limiter
    self.decoder = decoder
    self.encoder = encoder
    self.result = result
    self.route = route
    self.handOff = handOff
  }

  /// The handlers of the head phase on `channel`, in order; the future is the connection's outcome.
  /// `route` decides on the head; `handOff` adds the upgraded protocol's handlers at the end of the
  /// pipeline after the 101 (before the HTTP handlers leave) and says what to serve.
  static func install(
    on channel: any Channel, headTimeout: TimeAmount, onTimeout: @escaping () -> Void = {},
    route: @escaping (HTTPRequestHead) -> HeadDecision,
    handOff: @escaping (HeadDecision, any Channel) throws -> StreamingUpgrade = HTTPHeadRouter.asyncHandOff
  ) throws -> EventLoopFuture<StreamingUpgrade> {
    let limiter = HTTPHeadLimitHandler(timeout: headTimeout, onTimeout: onTimeout)
    let decoder = HTTPHead.decoder()
    let encoder = HTTPResponseEncoder()
    let promise = channel.eventLoop.makePromise(of: StreamingUpgrade.self)
    let router = HTTPHeadRouter(
      limiter: limiter, decoder: decoder, encoder: encoder, result: promise, route: route, handOff: handOff)
    try channel.pipeline.syncOperations.addHandlers([limiter, decoder, encoder, router])
    return promise.futureResult
  }

  /// The server's hand-off: the connection's bytes (SPDY) or frames (WebSocket) as an NIOAsyncChannel.
  static func asyncHandOff(_ decision: HeadDecision, _ channel: any Channel) throws -> StreamingUpgrade {
    switch decision {
    case .spdy(let request, let chosen):
      .spdy(request, protocol: chosen, try NIOAsyncChannel(wrappingChannelSynchronously: channel))
    case .webSocket(let request, let chosen, _):
      .webSocket(request, protocol: chosen, try {
        try WebSocket.addFrameHandlers(to: channel, role: .server)
        return try NIOAsyncChannel(wrappingChannelSynchronously: channel)
      }())
    case .refuse:
      .none
    }
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    switch (unwrapInboundIn(data), state) {
    case (.head(let head), .waiting):
      limiter.head()
      // The header fields are limited by the decoder; the request line here.
      guard head.uri.utf8.count <= HTTPHead.maxHeadSize else {
        return refuse(context, .requestHeaderFieldsTooLarge, body: "request head larger than 16 KiB")
      }
      let decision = route(head)
      if case .refuse(let status, let body, let headers) = decision {
        refuse(context, status, body: body, headers: headers)
      } else {
        state = .routed(decision)
      }
    case (.end, .routed(let decision)):
      // The switch after this read: the decoder stops at the end of an upgrade request, so nothing
      // more may come from it. If it does (it did not take the request for an upgrade), that is an error.
      state = .ending(decision)
      context.eventLoop.assumeIsolated().execute { [self] in upgrade(context, decision) }
    case (.head, .ending), (.body, .ending), (.end, .ending):
      refuse(context, .badRequest, body: "malformed http request: data after the upgrade request")
    case (_, .done), (.body, _), (.end, _), (.head, _):
      break
    }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    // Not answered once closed: the decoder reports a head cut short when the connection ends.
    guard case .waiting = state, context.channel.isActive else { return context.close(promise: nil) }
    switch error {
    case is HTTPHeadTooLarge, HTTPParserError.headerOverflow:
      refuse(context, .requestHeaderFieldsTooLarge, body: "request head larger than 16 KiB")
    default:
      refuse(context, .badRequest, body: "malformed http request: \(error)")
    }
  }

  func channelInactive(context: ChannelHandlerContext) {
    state = .done
    settle(.none)
    context.fireChannelInactive()
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    // Removed without an outcome (the channel closing under it): nothing to serve. (The upgrade
    // removes this handler itself, with state done, and settles after.)
    if case .done = state { return }
    settle(.none)
  }

  /// The connection's outcome, once.
  private func settle(_ outcome: StreamingUpgrade) {
    guard !settled else { return }
    settled = true
    result.succeed(outcome)
  }

  private func refuse(_ context: ChannelHandlerContext, _ status: HTTPResponseStatus, body: String, headers: [(String, String)] = []) {
    state = .done
    limiter.head()
    let parts = HTTPHead.errorParts(status, body: body, headers: headers)
    for part in parts.dropLast() { context.write(wrapOutboundOut(part), promise: nil) }
    context.writeAndFlush(wrapOutboundOut(parts.last!)).assumeIsolated().whenComplete { _ in
      context.close(promise: nil)
    }
    settle(.none)
  }

  /// 101 with the protocol's headers, then the HTTP handlers leave: the decoder last, so that what it
  /// holds after the head goes on to the NIOAsyncChannel as bytes.
  private func upgrade(_ context: ChannelHandlerContext, _ decision: HeadDecision) {
    guard case .ending = state, context.channel.isActive else { return }
    state = .done
    var headers = HTTPHeaders()
    switch decision {
    case .spdy(_, let chosen):
      headers.add(contentsOf: [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"), ("X-Stream-Protocol-Version", chosen)])
    case .webSocket(_, let chosen, let accept):
      headers.add(contentsOf: [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", accept), ("Sec-WebSocket-Protocol", chosen),
      ])
    case .refuse:
      return
    }
    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .switchingProtocols, headers: headers))), promise: nil)
    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    do {
      let outcome = try handOff(decision, context.channel)
      let pipeline = context.pipeline.syncOperations
      pipeline.removeHandler(encoder, promise: nil)
      pipeline.removeHandler(limiter, promise: nil)
      pipeline.removeHandler(context: context, promise: nil)
      pipeline.removeHandler(decoder, promise: nil)
      settle(outcome)
    } catch {
      settle(.none)
      context.close(promise: nil)
    }
  }
}
