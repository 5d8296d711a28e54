// Image trust at pull (issue #19): the policy in the store's trust directory (LiftoffCatalog
// TrustPolicy.swift) is read afresh for every pull; the rule for the reference decides.
//
//   insecureAcceptAnything   nothing more happens (no signature is fetched: a node without rules pulls as before)
//   reject                   the pull fails before the registry is contacted
//   signedBy KEYS            after the manifest is resolved and before anything is stored: the `.sig`
//                            manifest of the top-level digest is fetched from the same repository (same
//                            endpoints, credentials and hosts.toml rules as the image), each signature
//                            payload is fetched and checked against its digest, and at least one must be
//                            by one of KEYS, name the manifest digest, and carry an identity the rule
//                            accepts for the reference pulled. The signatures that verify are recorded
//                            (TrustRecord.swift) once the image record is written, for container creates.
//
// A refusal is FAILED_PRECONDITION naming the image, the rule (scope, requirement, file) and why.
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffOS

extension ImageStore {
  /// The rule for `ref` when it asks for signatures; nil when it accepts anything. A reject rule
  /// throws here, before the registry is contacted.
  func trustRule(for ref: ImageReference) throws -> TrustRule? {
    guard let dir = trustDir, let policy = try TrustPolicy.load(dir: dir), !policy.acceptsEverything else { return nil }
    let rule = policy.rule(for: ref)
    if rule.acceptsAnything { return nil }
    if rule.requirements.contains(.reject) {
      throw LiftoffError(.failedPrecondition, "pull \(ref) refused by the trust policy: \(rule.name): rejected")
    }
    return rule
  }

  /// Checks the signatures of `ref`'s top-level manifest `digest` against `rule`; returns those that
  /// verified (to record). Throws FAILED_PRECONDITION when a requirement is not met.
  func verifySignatures(_ rule: TrustRule?, ref: ImageReference, client: RegistryClient, digest: Digest) async throws -> [VerifiedSignature] {
    guard let rule else { return [] }
    func refuse(_ why: String) -> LiftoffError {
      LiftoffError(.failedPrecondition, "pull \(ref) (\(digest)) refused by the trust policy: \(rule.name): \(why)")
    }
    let tag = TrustSignature.tag(for: digest)
    let sigManifest: RegistryClient.FetchedManifest
    do { sigManifest = try await client.manifest(tag) } catch let e as LiftoffError where e.code == .notFound {
      throw refuse("no signature: \(ref.name):\(tag) does not exist")
    } catch let e as LiftoffError {
      throw LiftoffError(e.code, "pull \(ref): fetching its signatures (\(ref.name):\(tag)) for \(rule.name): \(e.message)")
    }
    let attached = try TrustSignature.attachments(sigManifest.data, what: "\(ref.name):\(tag)")
    if attached.isEmpty { throw refuse("no signature: \(ref.name):\(tag) holds no cosign signature layer") }

    // Fetch each payload once; what is wrong with one signature is kept for the message.
    var payloads: [(attached: TrustSignature.Attached, data: Data)] = []
    var problems: [String] = []
    for a in attached {
      let d = a.descriptor
      guard d.size <= TrustSignature.maxPayloadBytes else {
        problems.append("\(d.digest): payload of \(d.size) bytes is too large")
        continue
      }
      var data = Data()
      try await client.blob(d, restart: { data.removeAll() }, sink: { buf in
        guard Int64(data.count + buf.readableBytes) <= d.size else {
          throw LiftoffError.invalidArgument("signature payload \(d.digest) of \(ref.name) is larger than its descriptor says")
        }
        data.append(contentsOf: buf.readableBytesView)
      })
      guard ContentStore.sha256(data) == d.digest, Int64(data.count) == d.size else {
        problems.append("\(d.digest): payload does not match its digest")
        continue
      }
      payloads.append((a, data))
    }

    let now = ISO8601DateFormatter().string(from: Date())
    var verified: [VerifiedSignature] = []
    for case .signedBy(let keys, let identity) in rule.requirements {
      var met = false
      for (a, data) in payloads {
        let d = a.descriptor.digest
        guard let sig = a.signature else {
          problems.append("\(d): no \(TrustSignature.signatureAnnotation) annotation")
          continue
        }
        guard let key = keys.first(where: { TrustSignature.isValid(sig, of: data, by: $0) }) else {
          problems.append("\(d): not signed by \(keys.map(\.name).joined(separator: " or "))")
          continue
        }
        let payload: TrustSignature.Payload
        do { payload = try TrustSignature.parsePayload(data) } catch let e as LiftoffError {
          problems.append("\(d): \(e.message)")
          continue
        }
        guard payload.manifestDigest == digest.description else {
          problems.append("\(d): signed for manifest \(payload.manifestDigest), not \(digest)")
          continue
        }
        let record = VerifiedSignature(
          signedIdentity: payload.dockerReference, key: key.spkiBase64, keyName: key.name, payloadDigest: d.description,
          pulledAs: ref.description, rule: rule.scope, verifiedAt: now)
        if !verified.contains(where: { $0.sameSignature(record) }) { verified.append(record) }
        guard identity.accepts(signed: payload.dockerReference, intended: ref) else {
          problems.append("\(d): signed for \(payload.dockerReference), which identity \(identity) does not accept for \(ref)")
          continue
        }
        met = true
      }
      if !met {
        let n = attached.count
        throw refuse("\(n) signature\(n == 1 ? "" : "s"), none accepted: \(Array(Set(problems)).sorted().joined(separator: "; "))")
      }
    }
    return verified
  }

  /// Adds what a pull verified to the manifest's trust record (atomically, merged with earlier pulls').
  func recordSignatures(_ sigs: [VerifiedSignature], manifestDigest d: Digest) async throws {
    guard !sigs.isEmpty else { return }
    try FileSystem.makeDirectories(catalog.trustDir)
    let lock = try FileLock("\(tmpDir)/trust-\(d.encoded).lock")
    try await lock.lock()
    defer { lock.unlock() }
    var rec = (try? catalog.trustRecord(d)) ?? TrustRecord(manifestDigest: d.description, signatures: [])
    rec.signatures.removeAll { old in sigs.contains { $0.sameSignature(old) } }
    rec.signatures += sigs
    rec.signatures = Array(rec.signatures.suffix(TrustRecord.maxSignatures))
    try LiftoffOS.FileSystem.writeAtomically(catalog.trustRecordPath(d), try encode(rec), mode: 0o600)
  }

  /// Drops the trust records of manifests no image keeps (`keep`: the digests gc keeps).
  func pruneTrustRecords(keep: Set<String>) {
    for hex in FileSystem.list(catalog.trustDir) where !keep.contains("sha256:" + hex) {
      unlink("\(catalog.trustDir)/\(hex)")
    }
  }
}
