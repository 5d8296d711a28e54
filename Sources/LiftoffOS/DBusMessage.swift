// D-Bus messages and their wire format (D-Bus Specification 0.41, "Message Protocol"), just enough for
// talking to systemd's manager without libdbus/libsystemd (liftoff and liftoff-stage1 are static;
// Debian ships no static libsystemd).
//
//   message = header (yyyyuua(yv), padded to 8) body
//   header  = endianness 'l'|'B', type, flags, version 1, body length, serial, fields a(yv)
//   fields  = 1 PATH o, 2 INTERFACE s, 3 MEMBER s, 4 ERROR_NAME s, 5 REPLY_SERIAL u, 6 DESTINATION s,
//             7 SENDER s, 8 SIGNATURE g, 9 UNIX_FDS u
//
// Every value starts at a multiple of its alignment counted from the start of the message (the body
// starts 8-aligned, so counting from the body is the same): 1 for y g v, 2 for n q, 4 for b i u s o a,
// 8 for x t d and structs/dict entries. A string is a u32 length, the UTF-8 bytes and a NUL; a
// signature a u8 length, the bytes and a NUL; an array a u32 length in bytes (from the first element,
// after the padding to the element's alignment, which is there even when the array is empty) and its
// elements; a variant a signature of one complete type and the value. Messages are written
// little-endian; both byte orders are read.
import LiftoffCore

/// One D-Bus value with its type.
public indirect enum DBusValue: Sendable, Equatable {
  case byte(UInt8)
  case bool(Bool)
  case int16(Int16)
  case uint16(UInt16)
  case int32(Int32)
  case uint32(UInt32)
  case int64(Int64)
  case uint64(UInt64)
  case double(Double)
  case string(String)
  case objectPath(String)
  case signature(String)
  /// The element's signature (so that an empty array has a type) and the elements.
  case array(String, [DBusValue])
  case structure([DBusValue])
  case variant(DBusValue)
  case dictEntry(DBusValue, DBusValue)

  /// The value's type signature.
  public var signature: String {
    switch self {
    case .byte: "y"
    case .bool: "b"
    case .int16: "n"
    case .uint16: "q"
    case .int32: "i"
    case .uint32: "u"
    case .int64: "x"
    case .uint64: "t"
    case .double: "d"
    case .string: "s"
    case .objectPath: "o"
    case .signature: "g"
    case .array(let element, _): "a" + element
    case .structure(let fields): "(" + fields.map(\.signature).joined() + ")"
    case .variant: "v"
    case .dictEntry(let k, let v): "{" + k.signature + v.signature + "}"
    }
  }

  public var string: String? {
    switch self {
    case .string(let s), .objectPath(let s), .signature(let s): s
    default: nil
    }
  }
}

/// A D-Bus message: header fields and body.
public struct DBusMessage: Sendable, Equatable {
  public enum Kind: UInt8, Sendable {
    case methodCall = 1, methodReturn = 2, error = 3, signal = 4
  }
  /// Header flag: the sender wants no reply.
  public static let noReplyExpected: UInt8 = 0x1

  public var kind: Kind
  public var flags: UInt8 = 0
  public var serial: UInt32
  public var path: String?
  public var interface: String?
  public var member: String?
  public var errorName: String?
  public var replySerial: UInt32?
  public var destination: String?
  public var sender: String?
  public var body: [DBusValue] = []

  public init(kind: Kind, serial: UInt32) {
    self.kind = kind
    self.serial = serial
  }

  /// A method call.
  public static func call(
    serial: UInt32, destination: String?, path: String, interface: String, member: String, _ body: [DBusValue] = []
  ) -> DBusMessage {
    var m = DBusMessage(kind: .methodCall, serial: serial)
    m.destination = destination
    m.path = path
    m.interface = interface
    m.member = member
    m.body = body
    return m
  }

  /// The body's signature (header field SIGNATURE; absent when the body is empty).
  public var signature: String { body.map(\.signature).joined() }

  // MARK: writing

  public func encoded() -> [UInt8] {
    var fields: [DBusValue] = []
    func field(_ code: UInt8, _ value: DBusValue?) {
      if let value { fields.append(.structure([.byte(code), .variant(value)])) }
    }
    field(1, path.map(DBusValue.objectPath))
    field(2, interface.map(DBusValue.string))
    field(3, member.map(DBusValue.string))
    field(4, errorName.map(DBusValue.string))
    field(5, replySerial.map(DBusValue.uint32))
    field(6, destination.map(DBusValue.string))
    field(7, sender.map(DBusValue.string))
    field(8, body.isEmpty ? nil : .signature(signature))
    var bodyWriter = DBusWriter()
    for v in body { bodyWriter.write(v) }
    var w = DBusWriter()
    for b in [UInt8(ascii: "l"), kind.rawValue, flags, 1] { w.write(.byte(b)) }
    w.write(.uint32(UInt32(bodyWriter.bytes.count)))
    w.write(.uint32(serial))
    w.write(.array("(yv)", fields))
    w.pad(to: 8)
    return w.bytes + bodyWriter.bytes
  }

  // MARK: reading

  /// The length of the message that starts `bytes`, once its fixed header (16 bytes) is there; nil
  /// before that. Throws for what is no D-Bus message.
  public static func length(of bytes: ArraySlice<UInt8>) throws(LiftoffError) -> Int? {
    guard bytes.count >= 16 else { return nil }
    let r = try DBusReader(bytes)
    guard bytes[bytes.startIndex + 3] == 1 else { throw .init(.internal, "d-bus: protocol version \(bytes[bytes.startIndex + 3]) is not 1") }
    let bodyLength = Int(r.uint32(at: 4))
    let fieldsLength = Int(r.uint32(at: 12))
    let headerLength = (16 + fieldsLength + 7) & ~7
    let total = headerLength + bodyLength
    guard total <= 1 << 27 else { throw .init(.internal, "d-bus: message of \(total) bytes is over the 128 MiB limit") }
    return total
  }

  /// Parses one whole message (`length(of:)` bytes).
  public static func decode(_ bytes: ArraySlice<UInt8>) throws(LiftoffError) -> DBusMessage {
    var r = try DBusReader(bytes)
    r.offset = 1
    guard case .byte(let type) = try r.read("y"), let kind = Kind(rawValue: type) else {
      throw .init(.internal, "d-bus: unknown message type")
    }
    guard case .byte(let flags) = try r.read("y"), case .byte = try r.read("y"),
      case .uint32(let bodyLength) = try r.read("u"), case .uint32(let serial) = try r.read("u"),
      case .array(_, let fields) = try r.read("a(yv)")
    else { throw .init(.internal, "d-bus: malformed header") }
    var m = DBusMessage(kind: kind, serial: serial)
    m.flags = flags
    var signature = ""
    for f in fields {
      guard case .structure(let pair) = f, pair.count == 2, case .byte(let code) = pair[0], case .variant(let v) = pair[1]
      else { continue }
      switch (code, v) {
      case (1, .objectPath(let s)): m.path = s
      case (2, .string(let s)): m.interface = s
      case (3, .string(let s)): m.member = s
      case (4, .string(let s)): m.errorName = s
      case (5, .uint32(let n)): m.replySerial = n
      case (6, .string(let s)): m.destination = s
      case (7, .string(let s)): m.sender = s
      case (8, .signature(let s)): signature = s
      default: break  // unknown fields are ignored, as the specification says
      }
    }
    r.align(8)
    let bodyStart = r.offset
    guard bodyStart + Int(bodyLength) <= r.bytes.count else { throw .init(.internal, "d-bus: body runs past the message") }
    for type in try DBusSignature.split(signature) { m.body.append(try r.read(type)) }
    guard r.offset == bodyStart + Int(bodyLength) else {
      throw .init(.internal, "d-bus: body of \(bodyLength) bytes does not match its signature \(signature)")
    }
    return m
  }
}

/// Signatures: split into single complete types.
enum DBusSignature {
  static func split(_ signature: String) throws(LiftoffError) -> [String] {
    let s = Array(signature.utf8)
    var out: [String] = []
    var i = 0
    while i < s.count {
      let end = try completeType(s, i)
      out.append(String(decoding: s[i..<end], as: UTF8.self))
      i = end
    }
    return out
  }

  /// The end of the single complete type that starts at `i`.
  static func completeType(_ s: [UInt8], _ i: Int, depth: Int = 0) throws(LiftoffError) -> Int {
    guard i < s.count, depth < 64 else { throw .init(.internal, "d-bus: bad signature \(String(decoding: s, as: UTF8.self))") }
    switch s[i] {
    case UInt8(ascii: "a"): return try completeType(s, i + 1, depth: depth + 1)
    case UInt8(ascii: "("), UInt8(ascii: "{"):
      let close = s[i] == UInt8(ascii: "(") ? UInt8(ascii: ")") : UInt8(ascii: "}")
      var j = i + 1
      while j < s.count, s[j] != close { j = try completeType(s, j, depth: depth + 1) }
      guard j < s.count, j > i + 1 else { throw .init(.internal, "d-bus: bad signature \(String(decoding: s, as: UTF8.self))") }
      return j + 1
    case UInt8(ascii: "y"), UInt8(ascii: "b"), UInt8(ascii: "n"), UInt8(ascii: "q"), UInt8(ascii: "i"), UInt8(ascii: "u"),
      UInt8(ascii: "x"), UInt8(ascii: "t"), UInt8(ascii: "d"), UInt8(ascii: "s"), UInt8(ascii: "o"), UInt8(ascii: "g"),
      UInt8(ascii: "v"), UInt8(ascii: "h"):
      return i + 1
    default: throw .init(.internal, "d-bus: unknown type code in signature \(String(decoding: s, as: UTF8.self))")
    }
  }

  /// The alignment of a type code.
  static func alignment(_ code: UInt8) -> Int {
    switch code {
    case UInt8(ascii: "n"), UInt8(ascii: "q"): 2
    case UInt8(ascii: "b"), UInt8(ascii: "i"), UInt8(ascii: "u"), UInt8(ascii: "s"), UInt8(ascii: "o"), UInt8(ascii: "a"),
      UInt8(ascii: "h"):
      4
    case UInt8(ascii: "x"), UInt8(ascii: "t"), UInt8(ascii: "d"), UInt8(ascii: "("), UInt8(ascii: "{"): 8
    default: 1
    }
  }
}

/// Little-endian marshalling, offsets counted from the start of `bytes`.
struct DBusWriter {
  var bytes: [UInt8] = []

  mutating func pad(to alignment: Int) {
    while bytes.count % alignment != 0 { bytes.append(0) }
  }

  mutating func integer<T: FixedWidthInteger>(_ v: T) {
    pad(to: MemoryLayout<T>.size)
    withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
  }

  mutating func write(_ value: DBusValue) {
    switch value {
    case .byte(let v): bytes.append(v)
    case .bool(let v): integer(UInt32(v ? 1 : 0))
    case .int16(let v): integer(v)
    case .uint16(let v): integer(v)
    case .int32(let v): integer(v)
    case .uint32(let v): integer(v)
    case .int64(let v): integer(v)
    case .uint64(let v): integer(v)
    case .double(let v): integer(v.bitPattern)
    case .string(let s), .objectPath(let s):
      integer(UInt32(s.utf8.count))
      bytes.append(contentsOf: s.utf8)
      bytes.append(0)
    case .signature(let s):
      bytes.append(UInt8(s.utf8.count))
      bytes.append(contentsOf: s.utf8)
      bytes.append(0)
    case .array(let element, let values):
      integer(UInt32(0))
      let lengthAt = bytes.count - 4
      pad(to: DBusSignature.alignment(element.utf8.first ?? 0))
      let start = bytes.count
      for v in values { write(v) }
      let length = UInt32(bytes.count - start).littleEndian
      withUnsafeBytes(of: length) { for (i, b) in $0.enumerated() { bytes[lengthAt + i] = b } }
    case .structure(let fields):
      pad(to: 8)
      for f in fields { write(f) }
    case .dictEntry(let k, let v):
      pad(to: 8)
      write(k)
      write(v)
    case .variant(let v):
      write(.signature(v.signature))
      write(v)
    }
  }
}

/// Unmarshalling in the message's own byte order, offsets counted from the start of `bytes`.
struct DBusReader {
  let bytes: [UInt8]
  let littleEndian: Bool
  var offset = 0

  init(_ slice: ArraySlice<UInt8>) throws(LiftoffError) {
    bytes = Array(slice)
    guard let first = bytes.first, first == UInt8(ascii: "l") || first == UInt8(ascii: "B") else {
      throw .init(.internal, "d-bus: message does not start with an endianness mark")
    }
    littleEndian = first == UInt8(ascii: "l")
  }

  func uint32(at i: Int) -> UInt32 {
    let b = bytes[i..<i + 4].map(UInt32.init)
    return littleEndian ? b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24 : b[3] | b[2] << 8 | b[1] << 16 | b[0] << 24
  }

  mutating func align(_ n: Int) { offset = (offset + n - 1) / n * n }

  mutating func take(_ n: Int) throws(LiftoffError) -> ArraySlice<UInt8> {
    guard n >= 0, offset + n <= bytes.count else { throw .init(.internal, "d-bus: message ends inside a value") }
    defer { offset += n }
    return bytes[offset..<offset + n]
  }

  mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(LiftoffError) -> T {
    align(MemoryLayout<T>.size)
    var v: T = 0
    for (i, b) in try take(MemoryLayout<T>.size).enumerated() {
      let shift = littleEndian ? i * 8 : (MemoryLayout<T>.size - 1 - i) * 8
      v |= T(truncatingIfNeeded: b) << shift
    }
    return v
  }

  mutating func text(length: Int) throws(LiftoffError) -> String {
    let s = try take(length)
    guard try take(1).first == 0 else { throw .init(.internal, "d-bus: string without its NUL") }
    return String(decoding: s, as: UTF8.self)
  }

  /// Reads one value of the single complete type `type`.
  mutating func read(_ type: String, depth: Int = 0) throws(LiftoffError) -> DBusValue {
    let s = Array(type.utf8)
    guard let code = s.first, depth < 64 else { throw .init(.internal, "d-bus: bad type \(type)") }
    switch code {
    case UInt8(ascii: "y"): return .byte(try take(1).first!)
    case UInt8(ascii: "b"): return .bool(try integer(UInt32.self) != 0)
    case UInt8(ascii: "n"): return .int16(try integer(Int16.self))
    case UInt8(ascii: "q"): return .uint16(try integer(UInt16.self))
    case UInt8(ascii: "i"): return .int32(try integer(Int32.self))
    case UInt8(ascii: "u"), UInt8(ascii: "h"): return .uint32(try integer(UInt32.self))
    case UInt8(ascii: "x"): return .int64(try integer(Int64.self))
    case UInt8(ascii: "t"): return .uint64(try integer(UInt64.self))
    case UInt8(ascii: "d"): return .double(Double(bitPattern: try integer(UInt64.self)))
    case UInt8(ascii: "s"): return .string(try text(length: Int(try integer(UInt32.self))))
    case UInt8(ascii: "o"): return .objectPath(try text(length: Int(try integer(UInt32.self))))
    case UInt8(ascii: "g"): return .signature(try text(length: Int(try take(1).first!)))
    case UInt8(ascii: "v"):
      guard case .signature(let inner) = try read("g"), try DBusSignature.split(inner).count == 1 else {
        throw .init(.internal, "d-bus: variant without one complete type")
      }
      return .variant(try read(inner, depth: depth + 1))
    case UInt8(ascii: "a"):
      let element = String(decoding: s.dropFirst(), as: UTF8.self)
      let length = Int(try integer(UInt32.self))
      guard length <= 1 << 26 else { throw .init(.internal, "d-bus: array of \(length) bytes") }
      align(DBusSignature.alignment(s[1]))
      let end = offset + length
      guard end <= bytes.count else { throw .init(.internal, "d-bus: array runs past the message") }
      var values: [DBusValue] = []
      while offset < end { values.append(try read(element, depth: depth + 1)) }
      guard offset == end else { throw .init(.internal, "d-bus: array elements overrun its length") }
      return .array(element, values)
    case UInt8(ascii: "("), UInt8(ascii: "{"):
      align(8)
      var fields: [DBusValue] = []
      for t in try DBusSignature.split(String(decoding: s.dropFirst().dropLast(), as: UTF8.self)) {
        fields.append(try read(t, depth: depth + 1))
      }
      if code == UInt8(ascii: "{") {
        guard fields.count == 2 else { throw .init(.internal, "d-bus: dict entry of \(fields.count) values") }
        return .dictEntry(fields[0], fields[1])
      }
      return .structure(fields)
    default: throw .init(.internal, "d-bus: unknown type \(type)")
    }
  }
}
