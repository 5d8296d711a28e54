// WebSocket (RFC 6455) as both ends use it here: the opening handshake's accept key, frames, and a
// connection that reads whole data messages (answering pings, finishing on close) and writes frames.
//
//   frame: |FIN|RSV1-3|opcode(4)|MASK|len(7)| [len16 | len64] | [mask key(4)] | payload
//   opcodes: 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong
//   client → server frames are masked (payload[i] ^= key[i % 4]); server → client frames are not.
import Crypto
import Synchronization
import Foundation

enum WebSocketError: Error, Sendable, CustomStringConvertible {
  case protocolError(String)
  var description: String {
    switch self { case .protocolError(let m): "websocket protocol error: \(m)" }
  }
}

struct WebSocketFrame: Sendable, Equatable {
  enum Opcode: UInt8, Sendable {
    case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10
    var isControl: Bool { rawValue & 0x8 != 0 }
  }

  var fin: Bool
  var opcode: Opcode
  var payload: [UInt8]

  static let acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

  /// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID)).
  static func acceptKey(for key: String) -> String {
    Data(Insecure.SHA1.hash(data: Data((key + acceptGUID).utf8))).base64EncodedString()
  }

  /// The frame on the wire; `mask` is given by a client (4 bytes), nil for a server.
  func encode(mask: [UInt8]? = nil) -> [UInt8] {
    var out: [UInt8] = [(fin ? 0x80 : 0) | opcode.rawValue]
    let maskBit: UInt8 = mask == nil ? 0 : 0x80
    let n = payload.count
    if n < 126 {
      out.append(maskBit | UInt8(n))
    } else if n <= 0xffff {
      out.append(maskBit | 126)
      out.appendUInt16(UInt16(n))
    } else {
      out.append(maskBit | 127)
      out.appendUInt64(UInt64(n))
    }
    if let mask {
      out += mask
      out.reserveCapacity(out.count + n)
      for (i, b) in payload.enumerated() { out.append(b ^ mask[i & 3]) }
    } else {
      out += payload
    }
    return out
  }

  /// Reads one frame. `requireMask`: a server rejects unmasked frames (RFC 6455 5.1).
  static func read(from reader: ByteReader, requireMask: Bool, maxPayload: Int) async throws -> WebSocketFrame? {
    guard let h = try await reader.read(exactly: 2) else { return nil }
    guard h[0] & 0x70 == 0 else { throw WebSocketError.protocolError("reserved bits set without an extension") }
    guard let opcode = Opcode(rawValue: h[0] & 0x0f) else {
      throw WebSocketError.protocolError("unknown opcode \(h[0] & 0x0f)")
    }
    let fin = h[0] & 0x80 != 0
    let masked = h[1] & 0x80 != 0
    if requireMask && !masked { throw WebSocketError.protocolError("client frame is not masked") }
    var length = Int(h[1] & 0x7f)
    if length == 126 {
      guard let b = try await reader.read(exactly: 2) else { throw WebSocketError.protocolError("truncated frame") }
      length = Int(b[0]) << 8 | Int(b[1])
    } else if length == 127 {
      guard let b = try await reader.read(exactly: 8) else { throw WebSocketError.protocolError("truncated frame") }
      let v = b.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      guard v <= UInt64(maxPayload) else { throw WebSocketError.protocolError("frame of \(v) bytes is too large") }
      length = Int(v)
    }
    guard length <= maxPayload else { throw WebSocketError.protocolError("frame of \(length) bytes is too large") }
    if opcode.isControl {
      guard fin, length <= 125 else { throw WebSocketError.protocolError("fragmented or long control frame") }
    }
    var key: [UInt8] = []
    if masked {
      guard let k = try await reader.read(exactly: 4) else { throw WebSocketError.protocolError("truncated frame") }
      key = k
    }
    guard var payload = try await reader.read(exactly: length) else {
      if length == 0 { return WebSocketFrame(fin: fin, opcode: opcode, payload: []) }
      throw WebSocketError.protocolError("truncated frame")
    }
    if masked {
      for i in payload.indices { payload[i] ^= key[i & 3] }
    }
    return WebSocketFrame(fin: fin, opcode: opcode, payload: payload)
  }
}

/// One WebSocket connection after the handshake.
final class WebSocketConnection: Sendable {
  enum Role: Sendable { case client, server }
  static let maxMessage = 16 << 20

  let role: Role
  let writer: any ByteWriter
  private let closeSent = Synchronization.Mutex(false)

  init(role: Role, writer: any ByteWriter) {
    self.role = role
    self.writer = writer
  }

  func send(_ opcode: WebSocketFrame.Opcode, _ payload: [UInt8]) async throws {
    let frame = WebSocketFrame(fin: true, opcode: opcode, payload: payload)
    if role == .client {
      var rng = SystemRandomNumberGenerator()
      let m = rng.next() as UInt32
      try await writer.write(frame.encode(mask: [UInt8(m >> 24), UInt8(m >> 16 & 0xff), UInt8(m >> 8 & 0xff), UInt8(m & 0xff)]))
    } else {
      try await writer.write(frame.encode())
    }
  }

  func sendBinary(_ payload: [UInt8]) async throws { try await send(.binary, payload) }

  /// Sends a close frame once (1000 normal closure by default).
  func close(code: UInt16 = 1000, reason: String = "") async {
    let first = closeSent.withLock { sent -> Bool in
      defer { sent = true }
      return !sent
    }
    guard first else { return }
    var payload: [UInt8] = []
    payload.appendUInt16(code)
    payload += Array(reason.utf8.prefix(120))
    try? await send(.close, payload)
  }

  var didSendClose: Bool { closeSent.withLock { $0 } }

  /// The next data message (text or binary, reassembled from fragments); answers pings on the way;
  /// nil when the peer closed (its close frame is answered) or the connection ended.
  func readMessage(from reader: ByteReader) async throws -> (opcode: WebSocketFrame.Opcode, payload: [UInt8])? {
    var message: [UInt8] = []
    var messageOpcode: WebSocketFrame.Opcode?
    while true {
      guard let frame = try await WebSocketFrame.read(from: reader, requireMask: role == .server, maxPayload: Self.maxMessage) else {
        return nil
      }
      switch frame.opcode {
      case .ping:
        try? await send(.pong, frame.payload)
        continue
      case .pong:
        continue
      case .close:
        await close(code: frame.payload.count >= 2 ? UInt16(frame.payload[0]) << 8 | UInt16(frame.payload[1]) : 1000)
        return nil
      case .text, .binary:
        guard messageOpcode == nil else { throw WebSocketError.protocolError("new message inside a fragmented one") }
        messageOpcode = frame.opcode
        message = frame.payload
      case .continuation:
        guard messageOpcode != nil else { throw WebSocketError.protocolError("continuation frame without a message") }
        message += frame.payload
        guard message.count <= Self.maxMessage else { throw WebSocketError.protocolError("message too large") }
      }
      if frame.fin, let op = messageOpcode { return (op, message) }
    }
  }
}
