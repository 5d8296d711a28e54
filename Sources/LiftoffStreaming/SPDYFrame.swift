// SPDY/3.1 frames (draft-mbelshe-httpbis-spdy-00 with the SPDY/3.1 session flow control), the
// transport under Kubernetes' SPDY streaming (moby/spdystream).
//
//   control frame:  |1| version=3 (15) | type (16) | flags (8) | length (24) | data
//   data frame:     |0| stream id (31)             | flags (8) | length (24) | data
//
//   SYN_STREAM (1)   stream id, associated-to id, priority (3 bits) + 5 unused + slot (8), header block
//   SYN_REPLY  (2)   stream id, header block                      flags: FIN=0x01 (UNIDIRECTIONAL=0x02
//   RST_STREAM (3)   stream id, status code                              on SYN_STREAM only)
//   SETTINGS   (4)   count, then entries: flags (8) id (24) value (32)
//   PING       (6)   id (32)
//   GOAWAY     (7)   last good stream id, status code
//   HEADERS    (8)   stream id, header block
//   WINDOW_UPDATE (9) stream id (0 = the session), delta (31)
//
// A header block is zlib-compressed (SPDYHeaderCompression) and, decompressed, is
// count (32) then per pair: name length (32), name (lowercase), value length (32), value (several
// values separated by NUL).

enum SPDYError: Error, Sendable, CustomStringConvertible {
  case protocolError(String)
  case connectionClosed
  case streamReset(UInt32)

  var description: String {
    switch self {
    case .protocolError(let m): "spdy protocol error: \(m)"
    case .connectionClosed: "spdy connection closed"
    case .streamReset(let id): "spdy stream \(id) was reset"
    }
  }
}

/// Header pairs in order; names are lowercase on the wire (SPDY/3 requires it).
struct SPDYHeaders: Sendable, Equatable {
  var pairs: [(name: String, value: String)] = []

  init(_ pairs: [(String, String)] = []) {
    self.pairs = pairs.map { (name: $0.0.lowercased(), value: $0.1) }
  }

  /// The first value of `name` (case-insensitive), as Go's http.Header.Get.
  subscript(name: String) -> String? {
    let key = name.lowercased()
    return pairs.first { $0.name == key }?.value
  }

  static func == (a: SPDYHeaders, b: SPDYHeaders) -> Bool {
    a.pairs.map(\.name) == b.pairs.map(\.name) && a.pairs.map(\.value) == b.pairs.map(\.value)
  }

  /// The uncompressed header block.
  func encodeBlock() -> [UInt8] {
    var grouped: [(String, [String])] = []
    for (name, value) in pairs {
      if let i = grouped.firstIndex(where: { $0.0 == name }) { grouped[i].1.append(value) } else { grouped.append((name, [value])) }
    }
    var out: [UInt8] = []
    out.appendUInt32(UInt32(grouped.count))
    for (name, values) in grouped {
      let v = Array(values.joined(separator: "\0").utf8)
      out.appendUInt32(UInt32(name.utf8.count))
      out += Array(name.utf8)
      out.appendUInt32(UInt32(v.count))
      out += v
    }
    return out
  }

  static func decodeBlock(_ bytes: [UInt8]) throws -> SPDYHeaders {
    var r = ByteCursor(bytes)
    let count = try r.uint32()
    guard count <= 1024 else { throw SPDYError.protocolError("header block claims \(count) headers") }
    var headers = SPDYHeaders()
    var seen = Set<String>()
    for _ in 0..<count {
      let name = String(decoding: try r.bytes(Int(try r.uint32())), as: UTF8.self)
      let value = String(decoding: try r.bytes(Int(try r.uint32())), as: UTF8.self)
      guard !name.isEmpty else { throw SPDYError.protocolError("empty header name") }
      let lower = name.lowercased()
      guard seen.insert(lower).inserted else { throw SPDYError.protocolError("duplicate header \(lower)") }
      for v in value.split(separator: "\0", omittingEmptySubsequences: false) {
        headers.pairs.append((name: lower, value: String(v)))
      }
    }
    return headers
  }
}

enum SPDYFrame: Sendable, Equatable {
  static let version: UInt16 = 3
  static let flagFin: UInt8 = 0x01
  static let flagUnidirectional: UInt8 = 0x02
  static let settingsInitialWindowSize: UInt32 = 7

  case synStream(streamID: UInt32, associatedTo: UInt32, priority: UInt8, flags: UInt8, headers: SPDYHeaders)
  case synReply(streamID: UInt32, flags: UInt8, headers: SPDYHeaders)
  case rstStream(streamID: UInt32, status: UInt32)
  case settings(flags: UInt8, entries: [SettingsEntry])
  case ping(id: UInt32)
  case goAway(lastGoodStreamID: UInt32, status: UInt32)
  case headers(streamID: UInt32, flags: UInt8, headers: SPDYHeaders)
  case windowUpdate(streamID: UInt32, delta: UInt32)
  case data(streamID: UInt32, flags: UInt8, payload: [UInt8])
  /// A control frame of a type this implementation ignores (the spec says: ignore unknown types).
  case unknown(type: UInt16)

  struct SettingsEntry: Sendable, Equatable {
    var flags: UInt8
    var id: UInt32
    var value: UInt32
  }

  enum ControlType: UInt16 {
    case synStream = 1, synReply = 2, rstStream = 3, settings = 4, noop = 5, ping = 6, goAway = 7
    case headers = 8, windowUpdate = 9
  }

  // RST_STREAM status codes.
  static let rstProtocolError: UInt32 = 1
  static let rstRefusedStream: UInt32 = 3
  static let rstCancel: UInt32 = 5
  static let rstInternalError: UInt32 = 6
  static let rstFlowControlError: UInt32 = 7
  static let rstStreamInUse: UInt32 = 8
  static let rstStreamAlreadyClosed: UInt32 = 9

  /// The frame on the wire; header blocks go through `deflater` (shared, in send order).
  func encode(deflater: SPDYHeaderDeflater) throws -> [UInt8] {
    func control(_ type: ControlType, _ flags: UInt8, _ body: [UInt8]) -> [UInt8] {
      var out: [UInt8] = [0x80 | UInt8(Self.version >> 8), UInt8(Self.version & 0xff)]
      out.appendUInt16(type.rawValue)
      out.append(flags)
      out.appendUInt24(UInt32(body.count))
      return out + body
    }
    switch self {
    case let .synStream(id, assoc, priority, flags, headers):
      var body: [UInt8] = []
      body.appendUInt32(id & 0x7fff_ffff)
      body.appendUInt32(assoc & 0x7fff_ffff)
      body += [(priority & 0x07) << 5, 0]
      body += try deflater.compress(headers.encodeBlock())
      return control(.synStream, flags, body)
    case let .synReply(id, flags, headers):
      var body: [UInt8] = []
      body.appendUInt32(id & 0x7fff_ffff)
      body += try deflater.compress(headers.encodeBlock())
      return control(.synReply, flags, body)
    case let .rstStream(id, status):
      var body: [UInt8] = []
      body.appendUInt32(id & 0x7fff_ffff)
      body.appendUInt32(status)
      return control(.rstStream, 0, body)
    case let .settings(flags, entries):
      var body: [UInt8] = []
      body.appendUInt32(UInt32(entries.count))
      for e in entries {
        body.append(e.flags)
        body.appendUInt24(e.id)
        body.appendUInt32(e.value)
      }
      return control(.settings, flags, body)
    case let .ping(id):
      var body: [UInt8] = []
      body.appendUInt32(id)
      return control(.ping, 0, body)
    case let .goAway(last, status):
      var body: [UInt8] = []
      body.appendUInt32(last & 0x7fff_ffff)
      body.appendUInt32(status)
      return control(.goAway, 0, body)
    case let .headers(id, flags, headers):
      var body: [UInt8] = []
      body.appendUInt32(id & 0x7fff_ffff)
      body += try deflater.compress(headers.encodeBlock())
      return control(.headers, flags, body)
    case let .windowUpdate(id, delta):
      var body: [UInt8] = []
      body.appendUInt32(id & 0x7fff_ffff)
      body.appendUInt32(delta & 0x7fff_ffff)
      return control(.windowUpdate, 0, body)
    case let .data(id, flags, payload):
      var out: [UInt8] = []
      out.appendUInt32(id & 0x7fff_ffff)
      out.append(flags)
      out.appendUInt24(UInt32(payload.count))
      return out + payload
    case .unknown:
      throw SPDYError.protocolError("cannot send a frame of unknown type")
    }
  }

  /// Parses one frame from its 8-byte header and its payload.
  static func decode(header h: [UInt8], payload p: [UInt8], inflater: SPDYHeaderInflater) throws -> SPDYFrame {
    precondition(h.count == 8)
    let flags = h[4]
    if h[0] & 0x80 == 0 {
      let id = UInt32(h[0]) << 24 | UInt32(h[1]) << 16 | UInt32(h[2]) << 8 | UInt32(h[3])
      return .data(streamID: id, flags: flags, payload: p)
    }
    let version = (UInt16(h[0] & 0x7f) << 8) | UInt16(h[1])
    guard version == Self.version else { throw SPDYError.protocolError("unsupported spdy version \(version)") }
    let rawType = UInt16(h[2]) << 8 | UInt16(h[3])
    guard let type = ControlType(rawValue: rawType) else { return .unknown(type: rawType) }
    var r = ByteCursor(p)
    func need(_ n: Int) throws {
      guard p.count >= n else { throw SPDYError.protocolError("\(type) frame of \(p.count) bytes is too short") }
    }
    switch type {
    case .synStream:
      try need(10)
      let id = try r.uint32() & 0x7fff_ffff
      let assoc = try r.uint32() & 0x7fff_ffff
      let priority = (try r.bytes(2).first ?? 0) >> 5
      let headers = try SPDYHeaders.decodeBlock(inflater.decompress(r.rest()))
      return .synStream(streamID: id, associatedTo: assoc, priority: priority, flags: flags, headers: headers)
    case .synReply:
      try need(4)
      let id = try r.uint32() & 0x7fff_ffff
      return .synReply(streamID: id, flags: flags, headers: try SPDYHeaders.decodeBlock(inflater.decompress(r.rest())))
    case .rstStream:
      try need(8)
      return .rstStream(streamID: try r.uint32() & 0x7fff_ffff, status: try r.uint32())
    case .settings:
      try need(4)
      let count = try r.uint32()
      guard Int(count) * 8 == p.count - 4 else { throw SPDYError.protocolError("settings frame length does not match \(count) entries") }
      var entries: [SettingsEntry] = []
      for _ in 0..<count {
        let word = try r.uint32()
        entries.append(SettingsEntry(flags: UInt8(word >> 24), id: word & 0x00ff_ffff, value: try r.uint32()))
      }
      return .settings(flags: flags, entries: entries)
    case .ping:
      try need(4)
      return .ping(id: try r.uint32())
    case .goAway:
      try need(8)
      return .goAway(lastGoodStreamID: try r.uint32() & 0x7fff_ffff, status: try r.uint32())
    case .headers:
      try need(4)
      let id = try r.uint32() & 0x7fff_ffff
      return .headers(streamID: id, flags: flags, headers: try SPDYHeaders.decodeBlock(inflater.decompress(r.rest())))
    case .windowUpdate:
      try need(8)
      return .windowUpdate(streamID: try r.uint32() & 0x7fff_ffff, delta: try r.uint32() & 0x7fff_ffff)
    case .noop:
      return .unknown(type: rawType)
    }
  }

  /// The payload length announced by an 8-byte frame header.
  static func payloadLength(header h: [UInt8]) -> Int {
    Int(h[5]) << 16 | Int(h[6]) << 8 | Int(h[7])
  }
}

/// Big-endian reads from a byte array; every read checks the length.
struct ByteCursor {
  let bytes: [UInt8]
  var offset = 0

  init(_ bytes: [UInt8]) { self.bytes = bytes }

  mutating func bytes(_ n: Int) throws -> ArraySlice<UInt8> {
    guard n >= 0, bytes.count - offset >= n else { throw SPDYError.protocolError("truncated frame") }
    defer { offset += n }
    return bytes[offset..<offset + n]
  }

  mutating func uint32() throws -> UInt32 {
    let b = try bytes(4)
    return b.reduce(0) { $0 << 8 | UInt32($1) }
  }

  mutating func rest() -> [UInt8] {
    defer { offset = bytes.count }
    return Array(bytes[offset...])
  }
}

extension Array where Element == UInt8 {
  mutating func appendUInt16(_ v: UInt16) { append(contentsOf: [UInt8(v >> 8), UInt8(v & 0xff)]) }
  mutating func appendUInt24(_ v: UInt32) { append(contentsOf: [UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]) }
  mutating func appendUInt32(_ v: UInt32) {
    append(contentsOf: [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)])
  }
  mutating func appendUInt64(_ v: UInt64) {
    for shift in stride(from: 56, through: 0, by: -8) { append(UInt8(v >> UInt64(shift) & 0xff)) }
  }
}
