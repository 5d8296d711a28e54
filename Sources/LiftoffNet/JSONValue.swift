// A JSON document kept as written, for the parts of CNI configurations and results whose shape only
// the plugin knows (RFC 8259). Numbers that are integral stay integers, so a configuration passes
// through Liftoff to a plugin without `1500` turning into `1500.0`.
import Foundation
import LiftoffCore

public enum JSONValue: Sendable, Equatable, Codable {
  case null
  case bool(Bool)
  case int(Int64)
  case double(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  public init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    if c.decodeNil() {
      self = .null
    } else if let b = try? c.decode(Bool.self) {
      self = .bool(b)
    } else if let i = try? c.decode(Int64.self) {
      self = .int(i)
    } else if let d = try? c.decode(Double.self) {
      self = .double(d)
    } else if let s = try? c.decode(String.self) {
      self = .string(s)
    } else if let a = try? c.decode([JSONValue].self) {
      self = .array(a)
    } else {
      self = .object(try c.decode([String: JSONValue].self))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    switch self {
    case .null: try c.encodeNil()
    case .bool(let b): try c.encode(b)
    case .int(let i): try c.encode(i)
    case .double(let d): try c.encode(d)
    case .string(let s): try c.encode(s)
    case .array(let a): try c.encode(a)
    case .object(let o): try c.encode(o)
    }
  }

  /// Parses a JSON document; `what` names its origin (a file, a plugin) in the error.
  public static func parse(_ data: Data, what: String) throws -> JSONValue {
    do {
      return try JSONDecoder().decode(JSONValue.self, from: data)
    } catch {
      throw LiftoffError(.invalidArgument, "\(what): invalid json: \(Self.describe(error))")
    }
  }

  /// The document as compact JSON with sorted keys (stable bytes for caches and tests).
  public func encoded() -> Data {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // Encoding a JSONValue cannot fail: every case maps onto a JSON value (non-finite doubles
    // never come out of the decoder).
    return (try? e.encode(self)) ?? Data("null".utf8)
  }

  public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
  public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
  public var objectValue: [String: JSONValue]? {
    if case .object(let o) = self { return o } else { return nil }
  }
  public var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
  public var intValue: Int64? {
    switch self {
    case .int(let i): return i
    case .double(let d) where d.rounded() == d && abs(d) < 9e15: return Int64(d)
    default: return nil
    }
  }

  public subscript(key: String) -> JSONValue? { objectValue?[key] }

  /// A short description of a decoding error (Foundation's are long and nested).
  static func describe(_ error: any Error) -> String {
    switch error {
    case DecodingError.dataCorrupted(let ctx): return Self.path(ctx) + ctx.debugDescription
    case DecodingError.keyNotFound(let k, let ctx): return Self.path(ctx) + "missing key \"\(k.stringValue)\""
    case DecodingError.typeMismatch(let t, let ctx): return Self.path(ctx) + "expected \(t)"
    case DecodingError.valueNotFound(let t, let ctx): return Self.path(ctx) + "expected \(t), found null"
    default: return "\(error)"
    }
  }

  private static func path(_ ctx: DecodingError.Context) -> String {
    let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    return p.isEmpty ? "" : "at \(p): "
  }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
  ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
  public init(stringLiteral value: String) { self = .string(value) }
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  public init(integerLiteral value: Int64) { self = .int(value) }
  public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
  public init(dictionaryLiteral elements: (String, JSONValue)...) {
    self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
  }
}
