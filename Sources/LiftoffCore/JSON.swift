// A small JSON value with a parser and a serializer (RFC 8259), written without Foundation so that
// liftoff-stage1 (LiftoffCore + LiftoffOS only, static stdlib) can read the pod manifest and write
// state files. Object keys keep their insertion order, so serialized documents are stable.
//
// Strict RFC 8259: the number grammar exactly (no `+1`, `01`, `.5`, `1.`, `1e`), no control characters
// in strings, no lone surrogates in `\u` escapes (as JSONSerialization), no trailing garbage, no
// duplicate object keys (the RFC leaves them undefined; we refuse them, naming the key), nesting at
// most `JSON.maxDepth` deep, no number beyond Double's range (`1e400`, as JSONSerialization). Errors
// name the byte offset.
//
// Numbers: an integer literal (no fraction, no exponent) is kept exact as `.int` (or `.uint` above
// Int64.max); anything else is a `.number(Double)`. `-0` is the Double -0.0 so that it round-trips.
// Equality compares numbers by value, so `.int(1) == .number(1)`.

public enum JSON: Sendable, Equatable {
  case null
  case bool(Bool)
  case number(Double)
  case int(Int64)
  case uint(UInt64)  // only for integers above Int64.max
  case string(String)
  case array([JSON])
  case object([(String, JSON)])

  public static func == (a: JSON, b: JSON) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.number(let x), .number(let y)): return x == y
    case (.int(let x), .int(let y)): return x == y
    case (.uint(let x), .uint(let y)): return x == y
    case (.int, .number), (.number, .int), (.uint, .number), (.number, .uint):
      if let x = a.exactInteger, let y = b.exactInteger { return x.negative == y.negative && x.magnitude == y.magnitude }
      return a.exactInteger == nil && b.exactInteger == nil && a.doubleValue == b.doubleValue
    case (.string(let x), .string(let y)): return x == y
    case (.array(let x), .array(let y)): return x == y
    case (.object(let x), .object(let y)):
      guard x.count == y.count else { return false }
      for (l, r) in zip(x, y) where l.0 != r.0 || l.1 != r.1 { return false }
      return true
    default: return false
    }
  }

  // MARK: access

  public subscript(key: String) -> JSON? {
    guard case .object(let members) = self else { return nil }
    return members.first(where: { $0.0 == key })?.1
  }

  public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
  public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
  public var isNumber: Bool { doubleValue != nil }
  public var doubleValue: Double? {
    switch self {
    case .number(let n): return n
    case .int(let i): return Double(i)
    case .uint(let u): return Double(u)
    default: return nil
    }
  }
  /// The value as an exact integer (Int64 or UInt64 range as a pair), if it is one: integer literals,
  /// and Doubles that are whole and at most 2^53 in magnitude (so no precision was lost).
  var exactInteger: (negative: Bool, magnitude: UInt64)? {
    switch self {
    case .int(let i): return (i < 0, i.magnitude)
    case .uint(let u): return (false, u)
    case .number(let n):
      guard n.rounded() == n, n.magnitude <= 9_007_199_254_740_992 else { return nil }
      return (n < 0, UInt64(n.magnitude))
    default: return nil
    }
  }
  /// Exact Int64 value; nil for a non-number, a fraction, or a value outside Int64.
  public var int64Value: Int64? {
    guard let (neg, mag) = exactInteger else { return nil }
    if neg { return mag <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- mag) : nil }
    return mag <= UInt64(Int64.max) ? Int64(mag) : nil
  }
  /// Exact UInt64 value; nil for a non-number, a fraction, a negative value or one above UInt64.max.
  public var uint64Value: UInt64? {
    guard let (neg, mag) = exactInteger, !neg || mag == 0 else { return nil }
    return mag
  }
  public var intValue: Int? { int64Value.map { Int($0) } }
  public var arrayValue: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
  public var objectValue: [(String, JSON)]? { if case .object(let o) = self { return o } else { return nil } }
  public var isNull: Bool { if case .null = self { return true } else { return false } }

  // MARK: builders for optional fields

  /// An object from members, dropping those whose value is nil (absent optional fields).
  public static func obj(_ members: [(String, JSON?)]) -> JSON {
    .object(members.compactMap { k, v in v.map { (k, $0) } })
  }
  public static func str(_ s: String?) -> JSON? { s.map { .string($0) } }
  public static func int<I: BinaryInteger>(_ i: I?) -> JSON? { i.map { JSON(integer: $0) } }
  /// An exact integer value.
  public init<I: BinaryInteger>(integer i: I) {
    if let v = Int64(exactly: i) { self = .int(v) } else if let v = UInt64(exactly: i) { self = .uint(v) } else { self = .number(Double(i)) }
  }
  public static func strs(_ a: [String]?) -> JSON? { a.map { .array($0.map { .string($0) }) } }
  public static func map(_ m: [String: String]?) -> JSON? {
    m.map { .object($0.sorted(by: { $0.key < $1.key }).map { ($0.key, .string($0.value)) }) }
  }
}

// MARK: - serializing

extension JSON {
  /// Compact serialization; `pretty` indents with two spaces.
  public func serialized(pretty: Bool = false) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(512)
    write(into: &out, pretty: pretty, indent: 0)
    return String(decoding: out, as: UTF8.self)
  }

  // Written as UTF-8 bytes: appending to a String scalar by scalar made serialising a pod manifest
  // a third of `liftoff app add`'s instructions.
  private func write(into out: inout [UInt8], pretty: Bool, indent: Int) {
    switch self {
    case .null: out.append(contentsOf: "null".utf8)
    case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
    case .int(let i): out.append(contentsOf: String(i).utf8)
    case .uint(let u): out.append(contentsOf: String(u).utf8)
    case .number(let n):
      // JSON has no NaN or infinity: they are written as null (as JavaScript does).
      if !n.isFinite {
        out.append(contentsOf: "null".utf8)
      } else if n == 0 && n.sign == .minus {
        out.append(contentsOf: "-0".utf8)
      } else if n.rounded() == n && n.magnitude <= 9_007_199_254_740_992 {
        out.append(contentsOf: String(Int64(n)).utf8)
      } else {
        out.append(contentsOf: n.description.utf8)  // shortest repr that reads back to the same Double
      }
    case .string(let s): JSON.writeString(s, into: &out)
    case .array(let items):
      if items.isEmpty { out.append(contentsOf: "[]".utf8); return }
      out.append(UInt8(ascii: "["))
      // Index loops, not enumerated(): each generic wrapper type costs a process its first
      // conformance lookup (a scan of every conformance record of the binary).
      var i = 0
      while i < items.count {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        if pretty { JSON.newline(&out, indent + 1) }
        items[i].write(into: &out, pretty: pretty, indent: indent + 1)
        i += 1
      }
      if pretty { JSON.newline(&out, indent) }
      out.append(UInt8(ascii: "]"))
    case .object(let members):
      if members.isEmpty { out.append(contentsOf: "{}".utf8); return }
      out.append(UInt8(ascii: "{"))
      var i = 0
      while i < members.count {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        if pretty { JSON.newline(&out, indent + 1) }
        JSON.writeString(members[i].0, into: &out)
        out.append(UInt8(ascii: ":"))
        if pretty { out.append(UInt8(ascii: " ")) }
        members[i].1.write(into: &out, pretty: pretty, indent: indent + 1)
        i += 1
      }
      if pretty { JSON.newline(&out, indent) }
      out.append(UInt8(ascii: "}"))
    }
  }

  private static func newline(_ out: inout [UInt8], _ indent: Int) {
    out.append(UInt8(ascii: "\n"))
    out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * indent))
  }

  /// `s` quoted: `"`, `\` and control characters escaped (\n, \r, \t, else \u00XX); runs of
  /// other bytes copied as they are.
  private static func writeString(_ s: String, into out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    var s = s
    s.withUTF8 { bytes in
      var run = 0
      var i = 0
      while i < bytes.count {
        let b = bytes[i]
        i += 1
        guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
        out.append(contentsOf: UnsafeBufferPointer(start: bytes.baseAddress! + run, count: i - 1 - run))
        run = i
        switch b {
        case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
        case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
        case UInt8(ascii: "\n"): out.append(contentsOf: "\\n".utf8)
        case UInt8(ascii: "\r"): out.append(contentsOf: "\\r".utf8)
        case UInt8(ascii: "\t"): out.append(contentsOf: "\\t".utf8)
        default:
          let hex = Array("0123456789abcdef".utf8)
          out.append(contentsOf: "\\u00".utf8)
          out.append(hex[Int(b >> 4)])
          out.append(hex[Int(b & 0xF)])
        }
      }
      if run < bytes.count { out.append(contentsOf: UnsafeBufferPointer(start: bytes.baseAddress! + run, count: bytes.count - run)) }
    }
    out.append(UInt8(ascii: "\""))
  }
}

// MARK: - parsing

extension JSON {
  /// The deepest nesting of arrays and objects a document may have.
  public static let maxDepth = 512

  /// Parses one JSON document; trailing garbage is an error.
  public static func parse(_ text: String) throws(LiftoffError) -> JSON {
    var p = JSONParser(bytes: Array(text.utf8))
    let v = try p.parseValue(depth: 0)
    p.skipSpace()
    guard p.pos == p.bytes.count else { throw p.error("trailing characters") }
    return v
  }

  public static func parse(bytes: [UInt8]) throws(LiftoffError) -> JSON {
    var p = JSONParser(bytes: bytes)
    let v = try p.parseValue(depth: 0)
    p.skipSpace()
    guard p.pos == p.bytes.count else { throw p.error("trailing characters") }
    return v
  }
}

extension JSON {
  /// Whether `bytes` nest arrays and objects deeper than `JSON.maxDepth` levels (brackets inside
  /// strings do not count). A scan without parsing, for documents handed to Foundation's JSONDecoder:
  /// Swift 6.3's traps (does not throw) on a document that reaches its 512-level limit on its last
  /// byte (513 `[`), found by hack/fuzz.sh.
  public static func nestsTooDeep(_ bytes: UnsafeRawBufferPointer) -> Bool {
    var depth = 0, inString = false, escaped = false
    for b in bytes {
      if inString {
        if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
        continue
      }
      switch b {
      case UInt8(ascii: "\""): inString = true
      case UInt8(ascii: "["), UInt8(ascii: "{"):
        depth += 1
        if depth > maxDepth { return true }
      case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
      default: break
      }
    }
    return false
  }
}

private struct JSONParser {
  let bytes: [UInt8]
  var pos = 0

  init(bytes: [UInt8]) { self.bytes = bytes }

  func error(_ what: String) -> LiftoffError {
    .invalidArgument("invalid json at byte \(pos): \(what)")
  }

  mutating func skipSpace() {
    while pos < bytes.count, bytes[pos] == 0x20 || bytes[pos] == 0x0A || bytes[pos] == 0x0D || bytes[pos] == 0x09 {
      pos += 1
    }
  }

  mutating func parseValue(depth: Int) throws(LiftoffError) -> JSON {
    guard depth < JSON.maxDepth else { throw error("nesting deeper than \(JSON.maxDepth) levels") }
    skipSpace()
    guard pos < bytes.count else { throw error("unexpected end") }
    switch bytes[pos] {
    case UInt8(ascii: "{"):
      pos += 1
      var members: [(String, JSON)] = []
      // Duplicate keys: a scan while the object is small, a set once it is not (no quadratic cost).
      var seen: Set<String>?
      skipSpace()
      if pos < bytes.count, bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
      while true {
        skipSpace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw error("expected a key") }
        let keyPos = pos
        let key = try parseString()
        if members.count == 16 { seen = Set(members.map(\.0)) }
        let duplicate = seen != nil ? !seen!.insert(key).inserted : members.contains(where: { $0.0 == key })
        if duplicate {
          pos = keyPos
          throw error("duplicate key \"\(key)\"")
        }
        skipSpace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw error("expected ':'") }
        pos += 1
        let v = try parseValue(depth: depth + 1)
        members.append((key, v))
        skipSpace()
        guard pos < bytes.count else { throw error("unexpected end") }
        if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
        if bytes[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
        throw error("expected ',' or '}'")
      }
    case UInt8(ascii: "["):
      pos += 1
      var items: [JSON] = []
      skipSpace()
      if pos < bytes.count, bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
      while true {
        items.append(try parseValue(depth: depth + 1))
        skipSpace()
        guard pos < bytes.count else { throw error("unexpected end") }
        if bytes[pos] == UInt8(ascii: ",") { pos += 1; continue }
        if bytes[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
        throw error("expected ',' or ']'")
      }
    case UInt8(ascii: "\""):
      return .string(try parseString())
    case UInt8(ascii: "t"): try literal("true"); return .bool(true)
    case UInt8(ascii: "f"): try literal("false"); return .bool(false)
    case UInt8(ascii: "n"): try literal("null"); return .null
    default:
      return try parseNumber()
    }
  }

  mutating func literal(_ word: String) throws(LiftoffError) {
    let w = Array(word.utf8)
    guard pos + w.count <= bytes.count, Array(bytes[pos..<pos + w.count]) == w else {
      throw error("unexpected token")
    }
    pos += w.count
  }

  /// RFC 8259 `number = [ minus ] int [ frac ] [ exp ]`, `int = zero / ( digit1-9 *DIGIT )`.
  mutating func parseNumber() throws(LiftoffError) -> JSON {
    let start = pos
    func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    if pos < bytes.count, bytes[pos] == UInt8(ascii: "-") { pos += 1 }
    guard pos < bytes.count, isDigit(bytes[pos]) else { pos = start; throw error("unexpected character") }
    if bytes[pos] == UInt8(ascii: "0") {
      pos += 1
      if pos < bytes.count, isDigit(bytes[pos]) { throw error("leading zero in number") }
    } else {
      while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
    }
    let intEnd = pos
    var isInteger = true
    if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
      isInteger = false
      pos += 1
      guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("expected a digit after '.'") }
      while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
    }
    if pos < bytes.count, bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E") {
      isInteger = false
      pos += 1
      if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
      guard pos < bytes.count, isDigit(bytes[pos]) else { throw error("expected a digit in the exponent") }
      while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
    }
    let negative = bytes[start] == UInt8(ascii: "-")
    if isInteger {
      var mag: UInt64 = 0
      var exact = true
      for i in (negative ? start + 1 : start)..<intEnd {
        let (m, o1) = mag.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.addingReportingOverflow(UInt64(bytes[i] - 0x30))
        if o1 || o2 { exact = false; break }
        mag = a
      }
      if exact {
        if !negative { return mag <= UInt64(Int64.max) ? .int(Int64(mag)) : .uint(mag) }
        if mag == 0 { return .number(-0.0) }
        if mag <= UInt64(Int64.max) + 1 { return .int(Int64(truncatingIfNeeded: 0 &- mag)) }
      }
      // Beyond 64 bits: a Double, as JSONSerialization does.
    }
    let text = String(decoding: bytes[start..<pos], as: UTF8.self)
    guard let d = Double(text), d.isFinite else { pos = start; throw error("number \(text) is out of range") }
    return .number(d)
  }

  mutating func hex4() throws(LiftoffError) -> UInt32 {
    guard pos + 4 <= bytes.count else { throw error("short \\u escape") }
    var v: UInt32 = 0
    for _ in 0..<4 {
      let c = bytes[pos]
      pos += 1
      v <<= 4
      switch c {
      case 0x30...0x39: v |= UInt32(c - 0x30)
      case 0x41...0x46: v |= UInt32(c - 0x41 + 10)
      case 0x61...0x66: v |= UInt32(c - 0x61 + 10)
      default: throw error("bad \\u escape")
      }
    }
    return v
  }

  mutating func parseString() throws(LiftoffError) -> String {
    pos += 1  // opening quote
    // Most strings have no escapes: find the closing quote and take the bytes between as they are.
    let start = pos
    while pos < bytes.count {
      let c = bytes[pos]
      pos += 1
      if c == UInt8(ascii: "\"") {
        guard let s = String(validating: bytes[start..<pos - 1], as: UTF8.self) else { throw error("invalid utf-8 in string") }
        return s
      }
      if c < 0x20 { throw error("control character in string") }
      if c == UInt8(ascii: "\\") {
        pos -= 1
        break
      }
    }
    var out = Array(bytes[start..<pos])
    while true {
      guard pos < bytes.count else { throw error("unterminated string") }
      let c = bytes[pos]
      pos += 1
      if c == UInt8(ascii: "\"") { break }
      if c < 0x20 { throw error("control character in string") }
      if c != UInt8(ascii: "\\") { out.append(c); continue }
      guard pos < bytes.count else { throw error("unterminated escape") }
      let e = bytes[pos]
      pos += 1
      switch e {
      case UInt8(ascii: "\""): out.append(0x22)
      case UInt8(ascii: "\\"): out.append(0x5C)
      case UInt8(ascii: "/"): out.append(0x2F)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var cp = try hex4()
        if cp >= 0xD800 && cp < 0xDC00 {
          guard pos + 2 <= bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u") else {
            throw error("lone surrogate")
          }
          pos += 2
          let lo = try hex4()
          guard lo >= 0xDC00 && lo < 0xE000 else { throw error("bad surrogate pair") }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(cp) else { throw error("bad code point") }
        out.append(contentsOf: Array(String(scalar).utf8))
      default: throw error("bad escape")
      }
    }
    guard let s = String(validating: out, as: UTF8.self) else { throw error("invalid utf-8 in string") }
    return s
  }
}

// MARK: - typed field access with errors that name the field

extension JSON {
  /// The value of a required string field, or an error naming `context.key`.
  public func require(_ key: String, in context: String) throws(LiftoffError) -> JSON {
    guard let v = self[key], !v.isNull else { throw .invalidArgument("\(context): missing field \(key)") }
    return v
  }
  public func string(_ key: String, in context: String) throws(LiftoffError) -> String {
    guard let s = try require(key, in: context).stringValue else {
      throw .invalidArgument("\(context): field \(key) is not a string")
    }
    return s
  }
  public func optString(_ key: String, in context: String) throws(LiftoffError) -> String? {
    guard let v = self[key], !v.isNull else { return nil }
    guard let s = v.stringValue else { throw .invalidArgument("\(context): field \(key) is not a string") }
    return s
  }
  public func optInt64(_ key: String, in context: String) throws(LiftoffError) -> Int64? {
    guard let v = self[key], !v.isNull else { return nil }
    guard let i = v.int64Value else { throw JSON.integerError(v, key, context, range: "Int64") }
    return i
  }
  public func optUInt64(_ key: String, in context: String) throws(LiftoffError) -> UInt64? {
    guard let v = self[key], !v.isNull else { return nil }
    guard let u = v.uint64Value else { throw JSON.integerError(v, key, context, range: "UInt64") }
    return u
  }
  static func integerError(_ v: JSON, _ key: String, _ context: String, range: String) -> LiftoffError {
    if v.exactInteger != nil || (v.doubleValue.map { $0.rounded() == $0 } ?? false) {
      return .invalidArgument("\(context): field \(key) is out of range for \(range): \(v.serialized())")
    }
    if v.isNumber { return .invalidArgument("\(context): field \(key) is not an integer: \(v.serialized())") }
    return .invalidArgument("\(context): field \(key) is not an integer")
  }
  public func optBool(_ key: String, in context: String) throws(LiftoffError) -> Bool? {
    guard let v = self[key], !v.isNull else { return nil }
    guard let b = v.boolValue else { throw .invalidArgument("\(context): field \(key) is not a boolean") }
    return b
  }
  public func strings(_ key: String, in context: String) throws(LiftoffError) -> [String] {
    guard let v = self[key], !v.isNull else { return [] }
    guard let a = v.arrayValue else { throw .invalidArgument("\(context): field \(key) is not an array") }
    var out: [String] = []
    for item in a {
      guard let s = item.stringValue else { throw .invalidArgument("\(context): field \(key) holds a non-string") }
      out.append(s)
    }
    return out
  }
  public func stringMap(_ key: String, in context: String) throws(LiftoffError) -> [String: String] {
    guard let v = self[key], !v.isNull else { return [:] }
    guard let o = v.objectValue else { throw .invalidArgument("\(context): field \(key) is not an object") }
    var out: [String: String] = [:]
    for (k, item) in o {
      guard let s = item.stringValue else { throw .invalidArgument("\(context): field \(key).\(k) is not a string") }
      out[k] = s
    }
    return out
  }
  /// `strings`, but nil (not []) when the field is absent or null, as Codable decodes `[String]?`.
  public func optStrings(_ key: String, in context: String) throws(LiftoffError) -> [String]? {
    guard let v = self[key], !v.isNull else { return nil }
    return try strings(key, in: context)
  }
  /// `stringMap`, but nil when the field is absent or null.
  public func optStringMap(_ key: String, in context: String) throws(LiftoffError) -> [String: String]? {
    guard let v = self[key], !v.isNull else { return nil }
    return try stringMap(key, in: context)
  }
  public func objects(_ key: String, in context: String) throws(LiftoffError) -> [JSON] {
    guard let v = self[key], !v.isNull else { return [] }
    guard let a = v.arrayValue else { throw .invalidArgument("\(context): field \(key) is not an array") }
    return a
  }
}

// MARK: - inside Encodable documents

/// A value of ours inside a document written with JSONEncoder (`liftoff-image status --format json`,
/// ImageStatus's verbose info): written as it is, members in their order.
extension JSON: Encodable {
  private struct MemberName: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }

  public func encode(to encoder: any Encoder) throws {
    switch self {
    case .array(let values):
      var c = encoder.unkeyedContainer()
      for v in values { try c.encode(v) }
    case .object(let members):
      var c = encoder.container(keyedBy: MemberName.self)
      for (k, v) in members { try c.encode(v, forKey: MemberName(stringValue: k)) }
    default:
      var c = encoder.singleValueContainer()
      switch self {
      case .null: try c.encodeNil()
      case .bool(let b): try c.encode(b)
      case .number(let n): try c.encode(n)
      case .int(let i): try c.encode(i)
      case .uint(let u): try c.encode(u)
      case .string(let s): try c.encode(s)
      case .array, .object: break
      }
    }
  }
}

// MARK: - literals

/// Literals for documents built in code; a dictionary literal keeps its keys in the order written.
extension JSON: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
  ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
  public init(stringLiteral value: String) { self = .string(value) }
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  public init(integerLiteral value: Int64) { self = .int(value) }
  public init(arrayLiteral elements: JSON...) { self = .array(elements) }
  public init(dictionaryLiteral elements: (String, JSON)...) { self = .object(elements) }
}

extension JSON {
  /// Sets an object member: replaced where it stands, appended when new, removed when `value` is
  /// nil. Does nothing to a value that is not an object.
  public mutating func set(_ key: String, _ value: JSON?) {
    guard case .object(var members) = self else { return }
    self = .null  // members uniquely referenced while it is edited
    if let i = members.firstIndex(where: { $0.0 == key }) {
      if let value { members[i].1 = value } else { members.remove(at: i) }
    } else if let value {
      members.append((key, value))
    }
    self = .object(members)
  }
}
