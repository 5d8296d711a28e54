// policy.json: the trust policy in containers-policy.json(5)'s format (containers/image
// docs/containers-policy.json.5.md), so that a CRI-O or podman node's /etc/containers/policy.json can be
// copied into the trust directory as it is. Parsed as strictly as containers/image does: unknown or
// repeated fields and empty requirement lists are errors naming the scope.
//
// Read: `default` (required), and the `docker` transport's scopes ("" is the transport's default).
// Other transports (`docker-daemon`, `oci`, …) are for tools Liftoff is not, and are skipped.
// Requirements: `insecureAcceptAnything`, `reject`, and `sigstoreSigned` with `keyPath`, `keyPaths`,
// `keyData` or `keyDatas` (relative key paths are taken from the trust directory) and `signedIdentity`.
// Refused with a message: `signedBy` (GPG simple signing, not built) and sigstoreSigned's `fulcio`,
// `pki` and `rekorPublicKey*` (Liftoff uses no network service to verify: key-based signatures only).
import Foundation
import LiftoffCore

extension TrustPolicy {
  public init(containersPolicyJSON text: String, file: String, baseDir: String) throws {
    func bad(_ why: String) -> LiftoffError { .invalidArgument("trust policy \(file): \(why)") }
    let doc: JSON
    do { doc = try JSON.parse(text) } catch { throw bad("not valid JSON: \(error.message)") }
    let top = try Self.members(doc, allowed: ["default", "transports"], what: "the document", bad)
    guard let def = top["default"] else { throw bad("\"default\" is required") }
    let defaultRequirements = try Self.requirements(def, scope: "default", baseDir: baseDir, bad)
    var docker: [String: TrustRule] = [:]
    var transportDefault: TrustRule?
    if let transports = top["transports"] {
      guard case .object(let list) = transports else { throw bad("\"transports\" must be an object") }
      var seen: Set<String> = []
      for (name, scopes) in list {
        guard seen.insert(name).inserted else { throw bad("transport \"\(name)\" given twice") }
        guard case .object(let scopeList) = scopes else { throw bad("transport \"\(name)\" must be an object of scopes") }
        guard name == "docker" else { continue }
        var seenScopes: Set<String> = []
        for (scope, reqs) in scopeList {
          guard seenScopes.insert(scope).inserted else { throw bad("docker scope \"\(scope)\" given twice") }
          let rule = TrustRule(scope: scope, requirements: try Self.requirements(reqs, scope: "docker scope \"\(scope)\"", baseDir: baseDir, bad), file: file)
          if scope.isEmpty {
            transportDefault = rule
          } else {
            try TrustPolicy.validateScope(scope, in: file)
            docker[scope] = rule
          }
        }
      }
    }
    self.init(file: file, defaultRule: transportDefault ?? TrustRule(scope: "", requirements: defaultRequirements, file: file), rules: docker)
  }

  /// An object's members by name; unknown and repeated names are errors (also for cosign payloads).
  public static func members(_ v: JSON, allowed: Set<String>, what: String, _ bad: (String) -> LiftoffError) throws -> [String: JSON] {
    guard case .object(let list) = v else { throw bad("\(what) must be an object") }
    var out: [String: JSON] = [:]
    for (k, value) in list {
      guard allowed.contains(k) else { throw bad("\(what): unknown field \"\(k)\"") }
      guard out[k] == nil else { throw bad("\(what): field \"\(k)\" given twice") }
      out[k] = value
    }
    return out
  }

  static func requirements(_ v: JSON, scope: String, baseDir: String, _ bad: (String) -> LiftoffError) throws -> [TrustRequirement] {
    guard case .array(let list) = v, !list.isEmpty else { throw bad("\(scope): requirements must be a non-empty array") }
    return try list.enumerated().map { i, r in try requirement(r, what: "\(scope), requirement \(i + 1)", baseDir: baseDir, bad) }
  }

  static func requirement(_ v: JSON, what: String, baseDir: String, _ bad: (String) -> LiftoffError) throws -> TrustRequirement {
    guard let type = v["type"]?.stringValue else { throw bad("\(what): \"type\" is required") }
    switch type {
    case "insecureAcceptAnything":
      _ = try members(v, allowed: ["type"], what: what, bad)
      return .insecureAcceptAnything
    case "reject":
      _ = try members(v, allowed: ["type"], what: what, bad)
      return .reject
    case "signedBy":
      throw bad("\(what): signedBy (GPG simple signing) is not supported by liftoff; use sigstoreSigned with a public key")
    case "sigstoreSigned":
      let m = try members(
        v,
        allowed: [
          "type", "keyPath", "keyPaths", "keyData", "keyDatas", "signedIdentity", "fulcio", "pki", "rekorPublicKeyPath",
          "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas",
        ], what: what, bad)
      for f in ["fulcio", "pki", "rekorPublicKeyPath", "rekorPublicKeyPaths", "rekorPublicKeyData", "rekorPublicKeyDatas"] where m[f] != nil {
        throw bad("\(what): \"\(f)\" is not supported: liftoff verifies key-based signatures only, without network services")
      }
      let sources = ["keyPath", "keyPaths", "keyData", "keyDatas"].filter { m[$0] != nil }
      guard sources.count == 1 else { throw bad("\(what): give exactly one of keyPath, keyPaths, keyData, keyDatas") }
      func strings(_ f: String) throws -> [String] {
        switch m[f]! {
        case .string(let s): return [s]
        case .array(let a) where !a.isEmpty:
          return try a.map {
            guard let s = $0.stringValue else { throw bad("\(what): \"\(f)\" must hold strings") }
            return s
          }
        default: throw bad("\(what): \"\(f)\" must be \(f.hasSuffix("s") ? "a non-empty array of strings" : "a string")")
        }
      }
      var keys: [TrustKey] = []
      if sources[0].hasPrefix("keyPath") {
        for p in try strings(sources[0]) {
          let path = p.hasPrefix("/") ? p : "\(baseDir)/\(p)"
          do { keys.append(try TrustKey(file: path, name: p)) } catch let e as LiftoffError {
            throw LiftoffError(.failedPrecondition, "\(bad(what).message): \(e.message)")
          }
        }
      } else {
        for (i, d) in try strings(sources[0]).enumerated() {
          guard let pem = Data(base64Encoded: d).map({ String(decoding: $0, as: UTF8.self) }) else {
            throw bad("\(what): \(sources[0]) is not base64")
          }
          keys.append(try TrustKey(pem: pem, name: "\(sources[0])[\(i)]"))
        }
      }
      let identity = try m["signedIdentity"].map { try signedIdentity($0, what: what, bad) } ?? .matchRepoDigestOrExact
      return .signedBy(keys: keys, identity: identity)
    default:
      throw bad("\(what): unknown requirement type \"\(type)\"")
    }
  }

  static func signedIdentity(_ v: JSON, what: String, _ bad: (String) -> LiftoffError) throws -> SignedIdentity {
    let ctx = "\(what): signedIdentity"
    guard let type = v["type"]?.stringValue else { throw bad("\(ctx): \"type\" is required") }
    func field(_ name: String, _ m: [String: JSON]) throws -> String {
      guard let s = m[name]?.stringValue, !s.isEmpty else { throw bad("\(ctx): \"\(name)\" is required") }
      return s
    }
    switch type {
    case "matchExact", "matchRepoDigestOrExact", "matchRepository":
      _ = try members(v, allowed: ["type"], what: ctx, bad)
      return type == "matchExact" ? .matchExact : type == "matchRepository" ? .matchRepository : .matchRepoDigestOrExact
    case "exactReference":
      let m = try members(v, allowed: ["type", "dockerReference"], what: ctx, bad)
      let r = try field("dockerReference", m)
      guard let c = SignedIdentity.Claimed(r), !c.nameOnly else { throw bad("\(ctx): dockerReference \"\(r)\" needs a tag or digest") }
      return .exactReference(r)
    case "exactRepository":
      let m = try members(v, allowed: ["type", "dockerRepository"], what: ctx, bad)
      let r = try field("dockerRepository", m)
      guard SignedIdentity.Claimed(r) != nil else { throw bad("\(ctx): dockerRepository \"\(r)\" is not a repository") }
      return .exactRepository(r)
    case "remapIdentity":
      let m = try members(v, allowed: ["type", "prefix", "signedPrefix"], what: ctx, bad)
      return .remapIdentity(prefix: try field("prefix", m), signedPrefix: try field("signedPrefix", m))
    default:
      throw bad("\(ctx): unknown type \"\(type)\"")
    }
  }
}
