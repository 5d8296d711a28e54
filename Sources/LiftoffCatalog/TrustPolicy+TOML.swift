// policy.toml, Liftoff's own form of the trust policy (the simpler one; policy.json takes
// containers-policy.json as CRI-O and podman have it):
//
//   default = "insecureAcceptAnything"        # or "reject": what applies where no rule does
//
//   [[rule]]
//   prefix = "registry.example.com/team"      # registry[:port], namespace, repository, repo:tag, repo@digest, *.domain
//   type = "signedBy"                         # signedBy, reject or insecureAcceptAnything
//   keys = ["team.pub"]                       # signedBy: PEM public keys, relative to <trust-dir>/keys
//   identity = "matchRepoDigestOrExact"       # signedBy, optional: or matchExact, matchRepository
//
// `liftoff trust add|rm` rewrite the file from what they read (comments are not kept).
import Foundation
import LiftoffCore

public struct TrustTOMLPolicy: Sendable, Equatable {
  public struct Rule: Sendable, Equatable {
    public var prefix: String
    public var type: String
    public var keys: [String]
    public var identity: String?

    public init(prefix: String, type: String, keys: [String] = [], identity: String? = nil) {
      self.prefix = prefix
      self.type = type
      self.keys = keys
      self.identity = identity
    }
  }

  public static let types = ["signedBy", "reject", "insecureAcceptAnything"]
  public static let identities = ["matchRepoDigestOrExact", "matchExact", "matchRepository"]

  /// `insecureAcceptAnything` or `reject`.
  public var defaultType: String
  public var rules: [Rule]
  public var file: String

  public init(file: String, defaultType: String = "insecureAcceptAnything", rules: [Rule] = []) {
    self.file = file
    self.defaultType = defaultType
    self.rules = rules
  }

  public init(parsing text: String, file: String) throws {
    self.init(file: file)
    let doc = try MiniTOML(parsing: text, file: file)
    func bad(_ line: Int, _ why: String) -> LiftoffError { .invalidArgument("\(file):\(line): \(why)") }
    func string(_ e: MiniTOML.Entry) throws -> String {
      guard case .string(let s) = e.value else { throw bad(e.line, "\"\(e.key)\" must be a string") }
      return s
    }
    var seen: [String: Int] = [:]
    for t in doc.tables {
      switch (t.name, t.isArrayElement) {
      case (nil, _):
        for e in t.entries {
          guard e.key == "default" else {
            throw bad(e.line, "unknown setting \"\(e.key)\" (known: default, and [[rule]] tables)")
          }
          let v = try string(e)
          guard v == "insecureAcceptAnything" || v == "reject" else {
            throw bad(e.line, "default \"\(v)\" is not insecureAcceptAnything or reject (signed defaults: a rule per registry, or policy.json)")
          }
          defaultType = v
        }
      case ("rule", true):
        var r = Rule(prefix: "", type: "")
        var hasPrefix = false
        var hasKeys = false
        for e in t.entries {
          switch e.key {
          case "prefix":
            r.prefix = try string(e)
            hasPrefix = true
          case "type": r.type = try string(e)
          case "identity": r.identity = try string(e)
          case "keys":
            guard case .array(let items) = e.value else { throw bad(e.line, "\"keys\" must be an array of key file names") }
            r.keys = try items.map {
              guard case .string(let s) = $0, !s.isEmpty else { throw bad(e.line, "\"keys\" must be an array of key file names") }
              return s
            }
            hasKeys = true
          default:
            throw bad(e.line, "unknown rule setting \"\(e.key)\" (known: prefix, type, keys, identity)")
          }
        }
        guard hasPrefix else { throw bad(t.line, "a [[rule]] needs a prefix") }
        try TrustPolicy.validateScope(r.prefix, in: file)
        if let earlier = seen[r.prefix] { throw bad(t.line, "a rule for \"\(r.prefix)\" is already on line \(earlier)") }
        seen[r.prefix] = t.line
        guard Self.types.contains(r.type) else {
          throw bad(t.line, "rule \"\(r.prefix)\": type \"\(r.type)\" is not one of \(Self.types.joined(separator: ", "))")
        }
        if r.type == "signedBy" {
          guard !r.keys.isEmpty else { throw bad(t.line, "rule \"\(r.prefix)\": signedBy needs keys = [\"FILE.pub\", …]") }
          if let id = r.identity, !Self.identities.contains(id) {
            throw bad(t.line, "rule \"\(r.prefix)\": identity \"\(id)\" is not one of \(Self.identities.joined(separator: ", "))")
          }
        } else {
          guard !hasKeys, r.identity == nil else { throw bad(t.line, "rule \"\(r.prefix)\": keys and identity belong to signedBy rules") }
        }
        rules.append(r)
      default:
        throw bad(t.line, "unknown table [\(t.name ?? "")] (policy.toml has default = … and [[rule]] tables)")
      }
    }
  }

  /// The policy with its keys read (relative key names from `keysDir`).
  public func resolve(keysDir: String) throws -> TrustPolicy {
    func requirement(_ type: String, _ r: Rule?) throws -> TrustRequirement {
      switch type {
      case "reject": return .reject
      case "insecureAcceptAnything": return .insecureAcceptAnything
      default:
        let rule = r!
        let keys = try rule.keys.map { name in
          let path = name.hasPrefix("/") ? name : "\(keysDir)/\(name)"
          do { return try TrustKey(file: path, name: name) } catch let e as LiftoffError {
            throw LiftoffError(.failedPrecondition, "trust policy \(file): rule \"\(rule.prefix)\": \(e.message)")
          }
        }
        let identity: SignedIdentity
        switch rule.identity {
        case "matchExact": identity = .matchExact
        case "matchRepository": identity = .matchRepository
        default: identity = .matchRepoDigestOrExact
        }
        return .signedBy(keys: keys, identity: identity)
      }
    }
    var byScope: [String: TrustRule] = [:]
    for r in rules { byScope[r.prefix] = TrustRule(scope: r.prefix, requirements: [try requirement(r.type, r)], file: file) }
    return TrustPolicy(file: file, defaultRule: TrustRule(scope: "", requirements: [try requirement(defaultType, nil)], file: file), rules: byScope)
  }

  public func serialized() -> String {
    var out = """
      # Liftoff image trust policy (README: Image trust). `liftoff trust add|rm` rewrite this file.
      # default: what applies to images no rule matches (insecureAcceptAnything or reject).
      default = \(MiniTOML.quote(defaultType))

      """
    for r in rules {
      out += "\n[[rule]]\nprefix = \(MiniTOML.quote(r.prefix))\ntype = \(MiniTOML.quote(r.type))\n"
      if r.type == "signedBy" { out += "keys = [\(r.keys.map(MiniTOML.quote).joined(separator: ", "))]\n" }
      if let id = r.identity { out += "identity = \(MiniTOML.quote(id))\n" }
    }
    return out
  }
}
