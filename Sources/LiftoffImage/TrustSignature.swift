// sigstore (cosign) key-based image signatures, as cosign and containers/image write them:
//
//   <repo>:sha256-<manifest hex>.sig      an OCI manifest in the image's own repository; each layer is
//     layers[i].mediaType                 "application/vnd.dev.cosign.simplesigning.v1+json"
//     layers[i] blob                      the payload (below), fetched and checked against its digest
//     layers[i].annotations               "dev.cosignproject.cosign/signature": base64 signature of the
//                                         payload bytes — ECDSA P-256 over SHA-256 (ASN.1 DER), or
//                                         Ed25519 over the bytes themselves
//
//   payload {"critical": {"identity": {"docker-reference": "host/repo[:tag]"},
//                         "image": {"docker-manifest-digest": "sha256:…"},
//                         "type": "cosign container image signature"},
//            "optional": {…} | null}
//
// The payload is read as strictly as containers/image's signature/internal/sigstore_payload.go: exactly
// these fields in `critical` and its objects; `optional` may hold anything (creator and timestamp are
// only checked for type). No Rekor, no Fulcio: nothing but the registry is contacted.
import Crypto
import Foundation
import LiftoffCatalog
import LiftoffCore

enum TrustSignature {
  static let payloadMediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
  static let signatureAnnotation = "dev.cosignproject.cosign/signature"
  static let payloadType = "cosign container image signature"
  /// containers/image caps a signature at 4 MiB; a real payload is a few hundred bytes.
  static let maxPayloadBytes: Int64 = 256 << 10
  /// Signatures read from one `.sig` manifest.
  static let maxSignatures = 64

  /// The attachment tag cosign uses for a manifest digest.
  static func tag(for d: LiftoffCore.Digest) -> String { "\(d.algorithm)-\(d.encoded).sig" }

  struct Payload: Equatable {
    var manifestDigest: String
    var dockerReference: String
  }

  /// Parses a payload; the error says what is wrong with it.
  static func parsePayload(_ data: Data) throws -> Payload {
    func bad(_ why: String) -> LiftoffError { .invalidArgument("signature payload: \(why)") }
    let doc: JSON
    do { doc = try JSON.parse(bytes: [UInt8](data)) } catch { throw bad("not JSON: \(error.message)") }
    func exact(_ v: JSON, _ fields: [String], _ what: String) throws -> [String: JSON] {
      let out = try TrustPolicy.members(v, allowed: Set(fields), what: what, bad)
      for f in fields where out[f] == nil { throw bad("\(what): field \"\(f)\" missing") }
      return out
    }
    let top = try exact(doc, ["critical", "optional"], "payload")
    let optional = top["optional"]!
    if !optional.isNull {
      guard case .object(let list) = optional else { throw bad("optional is neither an object nor null") }
      for (k, v) in list {
        if k == "creator", v.stringValue == nil { throw bad("optional.creator is not a string") }
        if k == "timestamp", v.int64Value == nil { throw bad("optional.timestamp is not an integer") }
      }
    }
    let critical = try exact(top["critical"]!, ["type", "image", "identity"], "critical")
    guard critical["type"]?.stringValue == payloadType else { throw bad("critical.type is not \"\(payloadType)\"") }
    let image = try exact(critical["image"]!, ["docker-manifest-digest"], "critical.image")
    let identity = try exact(critical["identity"]!, ["docker-reference"], "critical.identity")
    guard let digest = image["docker-manifest-digest"]?.stringValue else { throw bad("docker-manifest-digest is not a string") }
    guard let reference = identity["docker-reference"]?.stringValue else { throw bad("docker-reference is not a string") }
    return Payload(manifestDigest: digest, dockerReference: reference)
  }

  /// Whether `signature` (base64, as in the annotation) is `key`'s signature of `payload`.
  static func isValid(_ signature: String, of payload: Data, by key: TrustKey) -> Bool {
    guard let sig = Data(base64Encoded: signature) else { return false }
    switch key.algorithm {
    case .ecdsaP256:
      guard let pk = try? P256.Signing.PublicKey(x963Representation: key.rawPublicKey),
        let s = try? P256.Signing.ECDSASignature(derRepresentation: sig)
      else { return false }
      return pk.isValidSignature(s, for: payload)
    case .ed25519:
      guard let pk = try? Curve25519.Signing.PublicKey(rawRepresentation: key.rawPublicKey) else { return false }
      return pk.isValidSignature(sig, for: payload)
    }
  }

  /// One layer of a `.sig` manifest.
  struct Attached {
    var descriptor: Descriptor
    var signature: String?
  }

  /// The signature layers of a `.sig` manifest (others, e.g. attestations, are skipped).
  static func attachments(_ manifest: Data, what: String) throws -> [Attached] {
    func bad(_ why: String) -> LiftoffError { .invalidArgument("signature manifest \(what): \(why)") }
    let doc: JSON
    do { doc = try JSON.parse(bytes: [UInt8](manifest)) } catch { throw bad("not JSON: \(error.message)") }
    guard case .array(let layers)? = doc["layers"] else { throw bad("no layers") }
    var out: [Attached] = []
    for l in layers where l["mediaType"]?.stringValue == payloadMediaType {
      guard let ds = l["digest"]?.stringValue, let d = try? LiftoffCore.Digest(ds), let size = l["size"]?.int64Value, size >= 0 else {
        throw bad("a signature layer without a valid digest and size")
      }
      out.append(Attached(
        descriptor: Descriptor(mediaType: payloadMediaType, digest: d, size: size),
        signature: l["annotations"]?[signatureAnnotation]?.stringValue))
      if out.count == maxSignatures { break }
    }
    return out
  }
}
