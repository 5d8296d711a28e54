// WebSocket (RFC 6455) as both ends use it here, on NIOWebSocket: WebSocketFrameDecoder and
// WebSocketFrameEncoder turn the connection's bytes into frames and back (masking included),
// NIOWebSocketFrameAggregator joins a fragmented message (16 MiB at most; control frames pass between
// fragments). Ours: WebSocketFrameCheck (what a peer may not send: reserved bits, unknown opcodes, and
// from a client an unmasked frame), the opening handshake's accept key, and a connection that reads
// whole data messages (answering pings, finishing on close) and writes frames.
//
//   pipeline after the 101:  [TLS] → WebSocketFrameDecoder → WebSocketFrameEncoder → WebSocketFrameCheck
//                            → NIOWebSocketFrameAggregator → NIOAsyncChannel<WebSocketFrame, WebSocketFrame>
import Crypto
import Foundation
import NIOCore
import NIOWebSocket
import Synchronization

enum WebSocketError: Error, Sendable, CustomStringConvertible {
  case protocolError(String)
  var description: String {
    switch self { case .protocolError(let m): "websocket protocol error: \(m)" }
  }
}

enum WebSocket {
  enum Role: Sendable { case client, server }

  /// The largest frame and the largest message.
  static let maxMessage = 16 << 20
  static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

  /// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
  static func acceptKey(for key: String) -> String {
    Data(Insecure.SHA1.hash(data: Data((key + acceptGUID).utf8))).base64EncodedString()
  }

  /// The frame handlers at the end of `channel`'s pipeline; the NIOAsyncChannel goes after them.
  static func addFrameHandlers(to channel: any Channel, role: Role) throws {
    try channel.pipeline.syncOperations.addHandlers([
      ByteToMessageHandler(WebSocketFrameDecoder(maxFrameSize: maxMessage)),
      WebSocketFrameEncoder(),
      WebSocketFrameCheck(requireMask: role == .server),
      NIOWebSocketFrameAggregator(
        minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: maxMessage),
    ])
  }
}

/// Between the decoder and the aggregator: a frame with reserved bits set (no extension is
/// negotiated), an unknown opcode, or, when `requireMask` (a server reading a client, RFC 6455 5.1),
/// an unmasked frame is a protocol error; nothing after it is passed on.
final class WebSocketFrameCheck: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = WebSocketFrame
  typealias InboundOut = WebSocketFrame
  static let opcodes: [WebSocketOpcode] = [.continuation, .text, .binary, .connectionClose, .ping, .pong]

  private let requireMask: Bool
  private var failed = false

  init(requireMask: Bool) { self.requireMask = requireMask }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !failed else { return }
    let frame = unwrapInboundIn(data)
    let problem: String? =
      if frame.rsv1 || frame.rsv2 || frame.rsv3 { "reserved bits set without an extension" }
      else if !Self.opcodes.contains(frame.opcode) { "unknown opcode \(frame.opcode)" }
      else if requireMask && frame.maskKey == nil { "client frame is not masked" }
      else { nil }
    guard let problem else { return context.fireChannelRead(data) }
    failed = true
    context.fireErrorCaught(WebSocketError.protocolError(problem))
  }
}

/// The frames a connection receives, read by one task.
final class WebSocketInbound {
  private var iterator: NIOAsyncChannelInboundStream<WebSocketFrame>.AsyncIterator

  init(_ frames: NIOAsyncChannelInboundStream<WebSocketFrame>) {
    iterator = frames.makeAsyncIterator()
  }

  func next() async throws -> WebSocketFrame? { try await iterator.next() }
}

/// One WebSocket connection after the handshake.
final class WebSocketConnection: Sendable {
  typealias Role = WebSocket.Role
  static let maxMessage = WebSocket.maxMessage

  let role: Role
  private let outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>
  private let channel: any Channel
  private let closeSent = Synchronization.Mutex(false)

  init(role: Role, outbound: NIOAsyncChannelOutboundWriter<WebSocketFrame>, channel: any Channel) {
    self.role = role
    self.outbound = outbound
    self.channel = channel
  }

  /// One frame; a client's is masked (by the encoder, with a fresh key).
  func send(_ opcode: WebSocketOpcode, _ payload: [UInt8]) async throws {
    let frame = WebSocketFrame(
      fin: true, opcode: opcode, maskKey: role == .client ? .random() : nil, data: ByteBuffer(bytes: payload))
    try await outbound.write(frame)
  }

  func sendBinary(_ payload: [UInt8]) async throws { try await send(.binary, payload) }

  /// Sends a close frame once (1000 normal closure by default).
  func close(code: UInt16 = 1000, reason: String = "") async {
    let first = closeSent.withLock { sent -> Bool in
      defer { sent = true }
      return !sent
    }
    guard first else { return }
    var payload: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xff)]
    payload += Array(reason.utf8.prefix(120))
    try? await send(.connectionClose, payload)
  }

  var didSendClose: Bool { closeSent.withLock { $0 } }

  /// Closes the connection under both sides.
  func closeTransport() async {
    try? await channel.close()
  }

  /// The next data message (text or binary; the aggregator has joined its fragments); answers pings on
  /// the way; nil when the peer closed (its close frame is answered) or the connection ended.
  func readMessage(from inbound: WebSocketInbound) async throws -> (opcode: WebSocketOpcode, payload: [UInt8])? {
    while let frame = try await inbound.next() {
      let payload = Array(frame.unmaskedData.readableBytesView)
      switch frame.opcode {
      case .ping:
        try? await send(.pong, payload)
      case .pong:
        continue
      case .connectionClose:
        await close(code: payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : 1000)
        return nil
      case .text, .binary:
        return (frame.opcode, payload)
      default:
        throw WebSocketError.protocolError("unexpected \(frame.opcode) frame")
      }
    }
    return nil
  }
}
