// Content digests as the OCI image spec v1.1 defines them (descriptor.md#digests):
// `algorithm:encoded`, here sha256 (64 lowercase hex) and sha512 (128 lowercase hex).

/// A validated content digest such as `sha256:6c3c…`.
public struct Digest: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
  public let algorithm: String
  public let encoded: String

  /// Parses and validates `algorithm:hex`; throws `.invalidArgument` naming the bad string.
  public init(_ string: String) throws {
    guard let colon = string.firstIndex(of: ":") else {
      throw LiftoffError.invalidArgument("invalid digest \"\(string)\": missing algorithm")
    }
    let algorithm = String(string[..<colon])
    let encoded = String(string[string.index(after: colon)...])
    let length: Int
    switch algorithm {
    case "sha256": length = 64
    case "sha512": length = 128
    default: throw LiftoffError.invalidArgument("invalid digest \"\(string)\": unsupported algorithm \"\(algorithm)\"")
    }
    guard encoded.utf8.count == length, encoded.utf8.allSatisfy(Digest.isLowerHex) else {
      throw LiftoffError.invalidArgument("invalid digest \"\(string)\": want \(length) lowercase hex characters")
    }
    self.algorithm = algorithm
    self.encoded = encoded
  }

  /// A sha256 digest from its 64 hex characters.
  public init(sha256Hex hex: String) throws { try self.init("sha256:" + hex) }

  public var description: String { "\(algorithm):\(encoded)" }
  public var string: String { description }

  public static func < (a: Digest, b: Digest) -> Bool { a.description < b.description }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.singleValueContainer()
    let s = try c.decode(String.self)
    do { try self.init(s) } catch let e as LiftoffError {
      throw DecodingError.dataCorruptedError(in: c, debugDescription: e.message)
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(description)
  }

  static func isLowerHex(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 97 && b <= 102) }

  /// Whether `s` is a (possibly partial) lowercase hex string, as accepted for ID prefixes.
  public static func isHexPrefix(_ s: some StringProtocol) -> Bool {
    !s.isEmpty && s.utf8.allSatisfy(isLowerHex)
  }
}
