// A public key a trust rule names: PEM `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 5280), as `cosign
// generate-key-pair` writes cosign.pub. ECDSA P-256 (uncompressed point) and Ed25519 only — the
// algorithms swift-crypto verifies and cosign's key-based signing uses. Recognised by the DER prefix
// of the SubjectPublicKeyInfo (the algorithm OIDs), so that this module needs no crypto library:
// verification is LiftoffImage's (TrustSignature.swift).
import Foundation
import LiftoffCore

public struct TrustKey: Sendable, Equatable {
  public enum Algorithm: String, Sendable { case ecdsaP256 = "ecdsa-p256", ed25519 }

  /// The key file's name (or `keyData[N]` for keys inline in policy.json), for messages.
  public var name: String
  public var algorithm: Algorithm
  /// The SubjectPublicKeyInfo DER.
  public var spki: [UInt8]

  /// SEQUENCE { SEQUENCE { id-ecPublicKey, prime256v1 }, BIT STRING (65 bytes: 04 || X || Y) }
  public static let p256Prefix: [UInt8] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
  ]
  /// SEQUENCE { SEQUENCE { id-Ed25519 }, BIT STRING (32 bytes) }
  public static let ed25519Prefix: [UInt8] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]

  public init(spki: [UInt8], name: String) throws {
    self.name = name
    self.spki = spki
    if spki.count == 91 && spki.starts(with: Self.p256Prefix) {
      algorithm = .ecdsaP256
    } else if spki.count == 44 && spki.starts(with: Self.ed25519Prefix) {
      algorithm = .ed25519
    } else {
      throw LiftoffError.invalidArgument(
        "public key \(name): not an ECDSA P-256 (uncompressed) or Ed25519 key; liftoff verifies those two only")
    }
  }

  /// Reads the one `-----BEGIN PUBLIC KEY-----` block of a PEM text.
  public init(pem: String, name: String) throws {
    let begin = "-----BEGIN PUBLIC KEY-----"
    let end = "-----END PUBLIC KEY-----"
    guard let b = pem.range(of: begin), let e = pem.range(of: end, range: b.upperBound..<pem.endIndex) else {
      throw LiftoffError.invalidArgument("public key \(name): no \(begin) block (a PEM public key, as cosign.pub)")
    }
    guard pem.range(of: begin, range: e.upperBound..<pem.endIndex) == nil else {
      throw LiftoffError.invalidArgument("public key \(name): more than one key in the file; give one key per file")
    }
    let body = pem[b.upperBound..<e.lowerBound].filter { !$0.isWhitespace }
    guard let der = Data(base64Encoded: String(body)) else {
      throw LiftoffError.invalidArgument("public key \(name): the PEM body is not base64")
    }
    try self.init(spki: [UInt8](der), name: name)
  }

  /// Reads a key file.
  public init(file path: String, name: String? = nil) throws {
    let text: String
    do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
      throw LiftoffError(.failedPrecondition, "public key \(path) cannot be read: \(error.localizedDescription)")
    }
    try self.init(pem: text, name: name ?? (path as NSString).lastPathComponent)
  }

  /// The key itself: the 65-byte uncompressed point (P-256) or the 32-byte public key (Ed25519).
  public var rawPublicKey: [UInt8] { Array(spki.suffix(algorithm == .ecdsaP256 ? 65 : 32)) }

  /// The SubjectPublicKeyInfo, base64: how verification records name the key.
  public var spkiBase64: String { Data(spki).base64EncodedString() }

  public var pem: String {
    let b64 = spkiBase64
    var lines: [Substring] = []
    var rest = Substring(b64)
    while !rest.isEmpty {
      lines.append(rest.prefix(64))
      rest = rest.dropFirst(64)
    }
    return "-----BEGIN PUBLIC KEY-----\n" + lines.joined(separator: "\n") + "\n-----END PUBLIC KEY-----\n"
  }

  /// Same key, whatever its name.
  public func sameKey(_ other: TrustKey) -> Bool { spki == other.spki }
}
