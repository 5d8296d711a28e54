// What a pull verified, kept next to the image records so that a container create can hold an image
// against the policy in force *now* without the network:
//
//   images/refs/trust/<manifest hex>   TrustRecord: the signatures verified for that (top-level)
//                                      manifest digest — which key, which identity, for which pull and
//                                      rule, and when. Written atomically by ImageStore (LiftoffImage),
//                                      merged with what earlier pulls verified; `gc` drops records no
//                                      image uses.
//
// The create-time check (`ImageCatalog.checkTrust`) finds the rule for the name the image is run by,
// and accepts a signedBy rule only with a recorded signature by one of the rule's keys *today*, for
// one of the image's own manifests, whose identity the rule accepts for that name. So a rule added
// after the pull applies (no record: refused until the image is pulled, and verified, again), and a
// key removed from a rule no longer vouches for what it signed.
import Foundation
import LiftoffCore

public struct TrustRecord: Codable, Sendable, Equatable {
  /// The manifest (or index) digest the signatures name.
  public var manifestDigest: String
  public var signatures: [VerifiedSignature]

  enum CodingKeys: String, CodingKey { case manifestDigest, signatures }

  public init(manifestDigest: String, signatures: [VerifiedSignature]) {
    self.manifestDigest = manifestDigest
    self.signatures = signatures
  }

  /// At most this many signatures are kept per manifest (the newest).
  public static let maxSignatures = 64
}

public struct VerifiedSignature: Codable, Sendable, Equatable {
  /// `critical.identity.docker-reference` of the signed payload.
  public var signedIdentity: String
  /// The key that verified it: SubjectPublicKeyInfo, base64, and its name in the policy.
  public var key: String
  public var keyName: String
  /// The digest of the signature's payload (its layer in the `.sig` manifest).
  public var payloadDigest: String
  /// The reference pulled, and the rule that asked for the signature.
  public var pulledAs: String
  public var rule: String
  /// RFC 3339.
  public var verifiedAt: String

  enum CodingKeys: String, CodingKey { case signedIdentity, key, keyName, payloadDigest, pulledAs, rule, verifiedAt }

  public init(signedIdentity: String, key: String, keyName: String, payloadDigest: String, pulledAs: String, rule: String, verifiedAt: String) {
    self.signedIdentity = signedIdentity
    self.key = key
    self.keyName = keyName
    self.payloadDigest = payloadDigest
    self.pulledAs = pulledAs
    self.rule = rule
    self.verifiedAt = verifiedAt
  }

  /// The same signature checked again (a later pull): replaces the earlier entry.
  public func sameSignature(_ o: VerifiedSignature) -> Bool {
    key == o.key && signedIdentity == o.signedIdentity && payloadDigest == o.payloadDigest
  }
}

extension ImageCatalog {
  public var trustDir: String { root + "/refs/trust" }

  public func trustRecordPath(_ manifestDigest: Digest) -> String { "\(trustDir)/\(manifestDigest.encoded)" }

  /// What pulls verified for a manifest digest; nil when nothing was.
  public func trustRecord(_ manifestDigest: Digest) throws -> TrustRecord? {
    let p = trustRecordPath(manifestDigest)
    guard let data = FileManager.default.contents(atPath: p) else { return nil }
    do { return try decodeJSON(TrustRecord.self, from: data) } catch {
      throw LiftoffError.internal("corrupt trust record \(p): \(error)")
    }
  }

  /// Refuses (FAILED_PRECONDITION, naming the rule and the image) to run image `id` when `policy`
  /// does not accept it now. `requested`: the references it is run by — the name given, or the CRI's
  /// `user_specified_image` — or nil when it was named by ID: then any of its names that the policy
  /// accepts will do (an image with no name is held to the default rule).
  public func checkTrust(_ policy: TrustPolicy, imageID id: String, requested: [ImageReference]?) throws {
    if policy.acceptsEverything { return }
    let rec = try record(id: id)
    let names = nameRecords().filter { $0.id == id }
    var refs: [ImageReference?] = requested ?? names.compactMap { try? ImageReference(parsing: $0.name) }
    if refs.isEmpty { refs = [nil] }
    // The manifest a reference stands for: its digest, or the one its name was pulled at — images that
    // share a config (one image ID) share one record, not their signatures; else any of the image's.
    let all = Set([rec.manifestDigest, rec.indexDigest].compactMap { $0 } + names.map(\.manifestDigest))
    func manifests(_ ref: ImageReference?) -> Set<String> {
      if let d = ref?.digest { return [d.description] }
      if let t = ref?.taggedName, let n = names.first(where: { $0.name == t }) { return [n.manifestDigest] }
      return all
    }
    var reasons: [String] = []
    for ref in refs {
      var records: [TrustRecord] = []
      for d in manifests(ref).sorted() { if let r = try trustRecord(try Digest(d)) { records.append(r) } }
      let rule = policy.rule(for: ref)
      guard let why = Self.refusal(rule, ref: ref, records: records) else { return }
      reasons.append("\(ref?.description ?? "(no name)"): \(rule.name): \(why)")
    }
    throw LiftoffError(.failedPrecondition, "image \(id) refused by the trust policy: \(reasons.joined(separator: "; "))")
  }

  /// Why `rule` refuses the image run as `ref`, given what pulls verified; nil when it accepts it.
  static func refusal(_ rule: TrustRule, ref: ImageReference?, records: [TrustRecord]) -> String? {
    for req in rule.requirements {
      switch req {
      case .insecureAcceptAnything: continue
      case .reject: return "rejected"
      case .signedBy(let keys, let identity):
        guard let ref else { return "a signature is required, and an image with no name has no identity to check it against" }
        let wanted = Set(keys.map(\.spkiBase64))
        let byKey = records.flatMap(\.signatures).filter { wanted.contains($0.key) }
        if byKey.contains(where: { identity.accepts(signed: $0.signedIdentity, intended: ref) }) { continue }
        if byKey.isEmpty {
          return "no signature by these keys was verified for this image's manifest (pulled before the rule, or by other keys): pull it again to verify it"
        }
        return "the verified signatures name \(Set(byKey.map(\.signedIdentity)).sorted().joined(separator: ", ")), which identity \(identity) does not accept for \(ref)"
      }
    }
    return nil
  }
}

extension ImageCatalog {
  /// The create-time check of `liftoff run|prepare|app add` and CRI CreateContainer: reads the policy in
  /// `trustDir` (none there: nothing to check) and checks image `id`, asked for as `spec` (a name, a
  /// digest reference, an ID or ID prefix) or, when `spec` is an ID, as `userSpecified` (CRI).
  public func enforceTrust(trustDir: String, imageID id: String, spec: String, userSpecified: String? = nil) throws {
    guard let policy = try TrustPolicy.load(dir: trustDir), !policy.acceptsEverything else { return }
    var requested = trustReferences(spec)
    if requested == nil, let u = userSpecified, !u.isEmpty, let r = try? ImageReference(parsing: u) { requested = [r] }
    try checkTrust(policy, imageID: id, requested: requested)
  }

  /// `spec` as the reference an image is run by: a digest reference, or a name the store knows; nil
  /// for an ID or ID prefix.
  func trustReferences(_ spec: String) -> [ImageReference]? {
    let s = spec.hasPrefix("docker://") ? String(spec.dropFirst("docker://".count)) : spec
    guard !s.hasPrefix("sha256:"), let ref = try? ImageReference(parsing: s) else { return nil }
    if ref.digest != nil { return [ref] }
    if let t = ref.taggedName, FileManager.default.fileExists(atPath: "\(namesDir)/\(ImageCatalog.escape(t))") { return [ref] }
    return nil
  }
}
