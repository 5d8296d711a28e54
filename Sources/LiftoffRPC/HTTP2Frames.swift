// HTTP/2 (RFC 9113) as a gRPC server over a Unix socket needs it: frame heads, the settings we send and
// accept, error codes, and the few header blocks we write (HPACK literals without indexing, RFC 7541
// §6.2.2, so that our encoder keeps no state). Header blocks we receive are decoded by NIOHPACK.
import NIOCore

enum FrameType: UInt8 {
  case data = 0x0, headers = 0x1, priority = 0x2, rstStream = 0x3, settings = 0x4, pushPromise = 0x5
  case ping = 0x6, goAway = 0x7, windowUpdate = 0x8, continuation = 0x9
}

enum FrameFlag {
  static let endStream: UInt8 = 0x1
  static let ack: UInt8 = 0x1
  static let endHeaders: UInt8 = 0x4
  static let padded: UInt8 = 0x8
  static let priority: UInt8 = 0x20
}

/// RFC 9113 §7.
enum H2Error: UInt32, Error {
  case noError = 0x0, protocolError = 0x1, internalError = 0x2, flowControlError = 0x3, settingsTimeout = 0x4
  case streamClosed = 0x5, frameSizeError = 0x6, refusedStream = 0x7, cancel = 0x8, compressionError = 0x9
  case connectError = 0xa, enhanceYourCalm = 0xb, inadequateSecurity = 0xc, http11Required = 0xd
}

enum SettingID: UInt16 {
  case headerTableSize = 0x1, enablePush = 0x2, maxConcurrentStreams = 0x3, initialWindowSize = 0x4
  case maxFrameSize = 0x5, maxHeaderListSize = 0x6
}

let clientPreface: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
let maxWindow = Int(Int32.max)
let defaultWindow = 65_535
let defaultMaxFrameSize = 16_384

extension ByteBuffer {
  mutating func writeFrameHead(length: Int, type: FrameType, flags: UInt8, stream: UInt32) {
    writeInteger(UInt8(truncatingIfNeeded: length >> 16))
    writeInteger(UInt16(truncatingIfNeeded: length))
    writeInteger(type.rawValue)
    writeInteger(flags)
    writeInteger(stream & 0x7fff_ffff)
  }

  mutating func writeSettings(_ settings: [(SettingID, UInt32)]) {
    writeFrameHead(length: 6 * settings.count, type: .settings, flags: 0, stream: 0)
    for (id, value) in settings {
      writeInteger(id.rawValue)
      writeInteger(value)
    }
  }

  mutating func writeWindowUpdate(stream: UInt32, increment: Int) {
    writeFrameHead(length: 4, type: .windowUpdate, flags: 0, stream: stream)
    writeInteger(UInt32(increment) & 0x7fff_ffff)
  }

  mutating func writeRstStream(stream: UInt32, error: H2Error) {
    writeFrameHead(length: 4, type: .rstStream, flags: 0, stream: stream)
    writeInteger(error.rawValue)
  }

  mutating func writeGoAway(lastStream: UInt32, error: H2Error, debug: String = "") {
    writeFrameHead(length: 8 + debug.utf8.count, type: .goAway, flags: 0, stream: 0)
    writeInteger(lastStream & 0x7fff_ffff)
    writeInteger(error.rawValue)
    writeString(debug)
  }

  /// A header block as HEADERS and, when it is longer than the peer's frame size, CONTINUATION frames.
  mutating func writeHeaderBlock(_ block: ByteBuffer, stream: UInt32, endStream: Bool, maxFrameSize: Int) {
    var block = block
    var first = true
    repeat {
      let n = min(block.readableBytes, maxFrameSize)
      let last = n == block.readableBytes
      var flags: UInt8 = last ? FrameFlag.endHeaders : 0
      if first && endStream { flags |= FrameFlag.endStream }
      writeFrameHead(length: n, type: first ? .headers : .continuation, flags: flags, stream: stream)
      var chunk = block.readSlice(length: n)!
      writeBuffer(&chunk)
      first = false
    } while block.readableBytes > 0
  }
}

/// HPACK (RFC 7541) encoding of the fields we send: literals never added to a dynamic table, so
/// that no state is shared between our header blocks; `:status` from the static table.
enum HeaderBlock {
  /// `:status: 200` (static table index 8) and `content-type: application/grpc`.
  static func responseHead(into block: inout ByteBuffer) {
    block.writeInteger(UInt8(0x88))
    literal(nameIndex: 31, value: "application/grpc", into: &block)
  }

  /// `:status: <status>` for a request that is not gRPC (415 for the wrong content-type).
  static func httpStatus(_ status: Int, into block: inout ByteBuffer) {
    literal(nameIndex: 8, value: String(status), into: &block)
  }

  static func literal(nameIndex: Int, value: String, into block: inout ByteBuffer) {
    writeInteger(nameIndex, prefixBits: 4, flags: 0x00, into: &block)
    writeString(value, into: &block)
  }

  static func literal(name: String, value: String, into block: inout ByteBuffer) {
    block.writeInteger(UInt8(0x00))
    writeString(name, into: &block)
    writeString(value, into: &block)
  }

  static func writeString(_ s: String, into block: inout ByteBuffer) {
    writeInteger(s.utf8.count, prefixBits: 7, flags: 0x00, into: &block)
    block.writeString(s)
  }

  /// RFC 7541 §5.1.
  static func writeInteger(_ value: Int, prefixBits: Int, flags: UInt8, into block: inout ByteBuffer) {
    let limit = (1 << prefixBits) - 1
    if value < limit {
      block.writeInteger(flags | UInt8(value))
      return
    }
    block.writeInteger(flags | UInt8(limit))
    var rest = value - limit
    while rest >= 128 {
      block.writeInteger(UInt8(rest & 0x7f | 0x80))
      rest >>= 7
    }
    block.writeInteger(UInt8(rest))
  }

  /// `grpc-message`'s encoding (gRPC over HTTP/2): bytes outside printable ASCII, and `%`, as %XX.
  static func percentEncoded(_ message: String) -> String {
    var out = [UInt8]()
    out.reserveCapacity(message.utf8.count)
    let hex = Array("0123456789ABCDEF".utf8)
    for b in message.utf8 {
      if b >= 0x20 && b <= 0x7e && b != UInt8(ascii: "%") {
        out.append(b)
      } else {
        out.append(UInt8(ascii: "%"))
        out.append(hex[Int(b >> 4)])
        out.append(hex[Int(b & 0xf)])
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}

/// `grpc-timeout` (gRPC over HTTP/2): at most 8 digits and a unit, H M S m u n.
func parseGRPCTimeout(_ value: String) -> TimeAmount? {
  let utf8 = Array(value.utf8)
  guard utf8.count >= 2, utf8.count <= 9, let unit = utf8.last else { return nil }
  var n: Int64 = 0
  for d in utf8.dropLast() {
    guard d >= UInt8(ascii: "0") && d <= UInt8(ascii: "9") else { return nil }
    n = n * 10 + Int64(d - UInt8(ascii: "0"))
  }
  switch unit {
  case UInt8(ascii: "H"): return .hours(n)
  case UInt8(ascii: "M"): return .minutes(n)
  case UInt8(ascii: "S"): return .seconds(n)
  case UInt8(ascii: "m"): return .milliseconds(n)
  case UInt8(ascii: "u"): return .microseconds(n)
  case UInt8(ascii: "n"): return .nanoseconds(n)
  default: return nil
  }
}
