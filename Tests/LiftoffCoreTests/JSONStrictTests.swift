import Foundation
import LiftoffCore
import Testing

// Strict RFC 8259 parsing and exact integers (issue #17). The differential test compares with
// Foundation's JSONSerialization; intended differences: we reject duplicate keys (Foundation keeps one),
// we reject a trailing comma and a NUL byte (Foundation accepts `[1,]` and stops at NUL); long
// decimals may differ by an ulp (Foundation goes through Decimal, ours is correctly rounded).
@Suite struct JSONStrictTests {
  static let valid: [String] = [
    "0", "-0", "1", "-1", "123", "1.5", "-1.5e3", "1E+2", "1e-2", "0.0", "0e0", "[]", "{}", " [ ] ",
    "\"\"", #""\u00e9""#, #""\ud83d\ude00""#, #""\/\b\f\n\r\t\"\\""#, "[1,[2,[3]]]", #"{"a":{"b":[null,true,false]}}"#,
    "9223372036854775807", "-9223372036854775808", "18446744073709551615", "18446744073709551616",
    "1e308", "-1e308", "5e-324", "\t\n\r 1 \t\n\r",
  ]
  static let invalid: [String] = [
    "", " ", "+1", "01", "-01", "00", ".5", "1.", "1.e1", "1e", "1e+", "-", "--1", "0x10", "1 2", "[1,]", "[,1]", "{,}",
    #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, "[1", "{\"a\":1", "nul", "truee", "True", "NaN", "Infinity", "-Infinity",
    "\"a\u{01}\"", "\"\t\"", #""\x""#, #""\u12""#, #""\u12g4""#, #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#,
    "'a'", "[1]x", "{}{}", "\u{00a0}1", "[01]", "1.5.5", "1E400", "-1e309",
  ]

  @Test func acceptsValidAndRejectsInvalidRFC8259Inputs() throws {
    for text in Self.valid {
      #expect(throws: Never.self, "should accept \(text)") { try JSON.parse(text) }
    }
    for text in Self.invalid {
      #expect(throws: LiftoffError.self, "should reject \(text)") { try JSON.parse(text) }
    }
  }

  @Test func integersAreExactAndRoundTrip() throws {
    for (text, expected) in [
      ("9223372036854775807", JSON.int(.max)), ("-9223372036854775808", JSON.int(.min)),
      ("18446744073709551615", JSON.uint(.max)), ("9007199254740993", JSON.int(9_007_199_254_740_993)),
    ] {
      let v = try JSON.parse(text)
      guard case .int = expected, case .int(let a) = v, case .int(let b) = expected else {
        guard case .uint(let a) = v, case .uint(let b) = expected else { Issue.record("\(text) -> \(v)"); continue }
        #expect(a == b)
        #expect(v.serialized() == text)
        continue
      }
      #expect(a == b)
      #expect(v.serialized() == text)
    }
    #expect(try JSON.parse("9223372036854775807").int64Value == Int64.max)
    #expect(try JSON.parse("-9223372036854775808").int64Value == Int64.min)
    #expect(try JSON.parse("18446744073709551615").uint64Value == UInt64.max)
    #expect(try JSON.parse("18446744073709551615").int64Value == nil)
    #expect(try JSON.parse("-1").uint64Value == nil)
    #expect(try JSON.parse("1.5").int64Value == nil)
    #expect(try JSON.parse("1e2").int64Value == 100)
    // -0 keeps its sign; 1e308 and 5e-324 come back as the same Double.
    let negZero = try JSON.parse("-0")
    #expect(negZero.serialized() == "-0")
    #expect(negZero.doubleValue?.sign == .minus)
    for text in ["1e308", "-1e308", "5e-324", "0.1", "1.7976931348623157e308", "123.456"] {
      let d = try #require(try JSON.parse(text).doubleValue)
      #expect(try JSON.parse(JSON.number(d).serialized()).doubleValue == d, "\(text)")
    }
    #expect(JSON(integer: UInt64.max).serialized() == "18446744073709551615")
    #expect(JSON(integer: Int64.min).serialized() == "-9223372036854775808")
    #expect(JSON.number(.nan).serialized() == "null")
  }

  @Test func accessorErrorsNameTheKey() throws {
    let v = try JSON.parse(#"{"f":1.5,"big":18446744073709551615,"neg":-1,"s":"x"}"#)
    func message(_ body: () throws(LiftoffError) -> Any?) -> String {
      do { _ = try body(); return "" } catch { return "\(error)" }
    }
    #expect(message { () throws(LiftoffError) in try v.optInt64("f", in: "ctx") }.contains("field f is not an integer"))
    #expect(message { () throws(LiftoffError) in try v.optInt64("big", in: "ctx") }.contains("field big is out of range for Int64"))
    #expect(message { () throws(LiftoffError) in try v.optUInt64("neg", in: "ctx") }.contains("field neg is out of range for UInt64"))
    #expect(message { () throws(LiftoffError) in try v.optInt64("s", in: "ctx") }.contains("field s is not an integer"))
    #expect(try v.optUInt64("big", in: "ctx") == UInt64.max)
  }

  @Test func duplicateKeysAndDepthAreRejectedWithClearErrors() throws {
    func message(_ text: String) -> String {
      do { _ = try JSON.parse(text); return "" } catch { return "\(error)" }
    }
    #expect(message(#"{"a":1,"b":2,"a":3}"#).contains(#"duplicate key "a""#))
    #expect(message(#"{"a":1,"b":2,"a":3}"#).contains("byte 13"))
    #expect(message(String(repeating: "[", count: JSON.maxDepth) + String(repeating: "]", count: JSON.maxDepth)) == "")
    let deep = String(repeating: "[", count: JSON.maxDepth + 1) + String(repeating: "]", count: JSON.maxDepth + 1)
    #expect(message(deep).contains("nesting deeper than 512 levels"))
    #expect(message("01").contains("leading zero"))
    #expect(message("[1.]").contains("byte 3"))
  }

  /// Same accept/reject as JSONSerialization, and the same values where both accept.
  @Test func agreesWithJSONSerialization() throws {
    var rng = SystemRandomNumberGenerator()
    let alphabet = Array("{}[]\":,.-+0123456789eE truefalsnul\\u\"abc\t\n".utf8) + [0x00, 0x1f, 0xc3, 0xa9, 0xff]
    var inputs: [[UInt8]] = (Self.valid + Self.invalid).map { Array($0.utf8) }
    let seeds = Self.valid + [#"{"a":[1,2.5,{"b":null}],"c":"d\u00e9"}"#, #"[-0.0,1e5,"x\ny"]"#]
    for _ in 0..<4000 {
      var b = Array(seeds.randomElement(using: &rng)!.utf8)
      for _ in 0..<Int.random(in: 1...3, using: &rng) {
        let c = alphabet.randomElement(using: &rng)!
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: b.insert(c, at: Int.random(in: 0...b.count, using: &rng))
        case 1: if !b.isEmpty { b.remove(at: Int.random(in: 0..<b.count, using: &rng)) }
        default: if !b.isEmpty { b[Int.random(in: 0..<b.count, using: &rng)] = c }
        }
      }
      inputs.append(b)
    }
    var compared = 0
    for bytes in inputs {
      let ours = try? JSON.parse(bytes: bytes)
      let theirs = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
      let text = String(decoding: bytes, as: UTF8.self)
      if ours == nil, theirs != nil, Self.hasDuplicateKey(bytes) { continue }  // intended difference
      if ours == nil, theirs != nil, bytes.contains(0) { continue }  // Foundation stops at a NUL byte
      // Foundation accepts a trailing comma before ] or }; RFC 8259 does not.
      if ours == nil, theirs != nil, text.replacingOccurrences(of: " ", with: "").contains(",]") || text.replacingOccurrences(of: " ", with: "").contains(",}") { continue }
      #expect((ours != nil) == (theirs != nil), "accept/reject differs (ours \(ours != nil)) on \(bytes) \(text.debugDescription)")
      if let ours, let theirs {
        #expect(Self.same(ours, theirs), "values differ on \(text.debugDescription)")
        compared += 1
      }
    }
    #expect(compared > 100)
  }

  static func hasDuplicateKey(_ bytes: [UInt8]) -> Bool {
    guard let any = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else { return false }
    _ = any
    // Foundation keeps one value for a duplicate key; re-serializing drops it, so count keys in our
    // error instead.
    do { _ = try JSON.parse(bytes: bytes); return false } catch { return "\(error)".contains("duplicate key") }
  }

  static func same(_ a: JSON, _ b: Any) -> Bool {
    switch a {
    case .null: return b is NSNull
    case .bool(let x): return (b as? Bool) == x
    case .int(let x): return (b as? NSNumber)?.int64Value == x
    case .uint(let x): return (b as? NSNumber)?.uint64Value == x
    case .number(let x):
      // Foundation reads long decimals through Decimal, whose doubleValue can be an ulp off the
      // correctly rounded Double that Swift's Double(String) (ours) gives.
      guard let y = (b as? NSNumber)?.doubleValue else { return false }
      return y == x || abs(y - x) <= abs(x) * 4 * Double.ulpOfOne
    case .string(let x): return (b as? String) == x
    case .array(let xs):
      guard let ys = b as? [Any], ys.count == xs.count else { return false }
      return zip(xs, ys).allSatisfy { same($0, $1) }
    case .object(let ms):
      guard let d = b as? [String: Any], d.count == ms.count else { return false }
      return ms.allSatisfy { k, v in d[k].map { same(v, $0) } ?? false }
    }
  }

  /// The depth scan that guards Foundation's JSONDecoder (LiftoffCatalog.decodeJSON) counts what our
  /// parser counts: 512 levels pass, 513 do not; brackets in strings and escaped quotes do not count.
  @Test func nestingDepthScan() {
    func deep(_ s: String) -> Bool { Array(s.utf8).withUnsafeBytes { JSON.nestsTooDeep($0) } }
    let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
    #expect(!deep(ok))
    #expect((try? JSON.parse(ok)) != nil)
    #expect(deep(String(repeating: "[", count: 513)))
    #expect(deep(String(repeating: "{\"a\":", count: 513)))
    #expect(!deep("[\"" + String(repeating: "[", count: 600) + "\"]"))
    #expect(!deep("[\"\\\"" + String(repeating: "{", count: 600) + "\"]"))
    #expect(deep("[\"\\\\\"" + String(repeating: "[", count: 600)))
  }

  /// Past 16 keys the duplicate check uses a set: a duplicate far into a large object is still found.
  @Test func duplicateKeysInALargeObject() throws {
    let keys = (0..<40).map { "\"k\($0)\":\($0)" }
    let ok = "{" + keys.joined(separator: ",") + "}"
    #expect(try JSON.parse(ok)["k39"]?.int64Value == 39)
    for dup in ["k0", "k15", "k16", "k39"] {
      let bad = "{" + (keys + ["\"\(dup)\":1"]).joined(separator: ",") + "}"
      #expect(throws: LiftoffError.self) { try JSON.parse(bad) }
    }
  }
}
