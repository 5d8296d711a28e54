// Image trust (rkt's `trust`, issue #19): which images a node accepts, by where they come from.
//
//   <trust-dir>/policy.toml   Liftoff's own form (TrustPolicy+TOML.swift); `liftoff trust add|rm` write it
//   <trust-dir>/policy.json   containers-policy.json(5), what CRI-O and podman read (TrustPolicy+JSON.swift)
//   <trust-dir>/keys/         public keys `liftoff trust add` copied there (PEM: ECDSA P-256 or Ed25519)
//
// At most one of the two policy files may exist. With neither, every image is accepted and nothing is
// fetched or checked: a node without rules behaves as before. The policy is read afresh for every pull
// and every container create, so a rule applies from the moment it is written.
//
// A rule's scope is looked up as containers-policy.json's `docker` transport does
// (containers/image docker/policyconfiguration/naming.go): the most specific scope that exists wins —
// `host/repo:tag` (or `host/repo@digest`), `host/repo`, each parent namespace, `host[:port]`, then the
// `*.domain` wildcards of the host without its port — and the default where none does. Scopes are fully
// expanded names (`docker.io/library/busybox`, never `busybox`) and match whole path components.
import Foundation
import LiftoffCore

/// What one requirement of a rule asks of an image; all requirements of a rule must hold.
public enum TrustRequirement: Sendable, Equatable {
  case insecureAcceptAnything
  case reject
  /// A sigstore (cosign) signature by one of `keys`, whose payload names the manifest digest and an
  /// identity that `identity` accepts for the reference being pulled.
  case signedBy(keys: [TrustKey], identity: SignedIdentity)

  public var summary: String {
    switch self {
    case .insecureAcceptAnything: return "insecureAcceptAnything"
    case .reject: return "reject"
    case .signedBy(let keys, let identity):
      return "signedBy \(keys.map(\.name).joined(separator: ", "))\(identity == .matchRepoDigestOrExact ? "" : ", identity \(identity)")"
    }
  }
}

/// The requirements that apply under one scope.
public struct TrustRule: Sendable, Equatable {
  /// The scope (a registry, namespace, repository, `repo:tag`, `repo@digest` or `*.domain`); "" for the default.
  public var scope: String
  public var requirements: [TrustRequirement]
  /// The policy file the rule is in, for messages.
  public var file: String

  public init(scope: String, requirements: [TrustRequirement], file: String) {
    self.scope = scope
    self.requirements = requirements
    self.file = file
  }

  /// `rule "127.0.0.1:5000/team" (signedBy team.pub) in /etc/liftoff/trust/policy.toml`.
  public var name: String {
    let what = requirements.map(\.summary).joined(separator: "; ")
    return scope.isEmpty ? "default rule (\(what)) in \(file)" : "rule \"\(scope)\" (\(what)) in \(file)"
  }

  public var acceptsAnything: Bool { requirements.allSatisfy { $0 == .insecureAcceptAnything } }
}

public struct TrustPolicy: Sendable, Equatable {
  public static let defaultDirectory = "/etc/liftoff/trust"
  public static let tomlName = "policy.toml"
  public static let jsonName = "policy.json"

  /// The file the policy came from.
  public var file: String
  public var defaultRule: TrustRule
  /// By scope.
  public var rules: [String: TrustRule]

  public init(file: String, defaultRule: TrustRule, rules: [String: TrustRule]) {
    self.file = file
    self.defaultRule = defaultRule
    self.rules = rules
  }

  /// The policy in `dir`, or nil when it holds neither policy file (no rules: accept everything).
  /// A malformed policy, a missing key file or both files at once are errors naming the file.
  public static func load(dir: String) throws -> TrustPolicy? {
    let toml = "\(dir)/\(tomlName)"
    let json = "\(dir)/\(jsonName)"
    let hasTOML = FileManager.default.fileExists(atPath: toml)
    let hasJSON = FileManager.default.fileExists(atPath: json)
    switch (hasTOML, hasJSON) {
    case (false, false): return nil
    case (true, true):
      throw LiftoffError(
        .failedPrecondition, "trust policy: both \(toml) and \(json) exist; keep one (liftoff reads either form, not both)")
    case (true, false):
      return try TrustTOMLPolicy(parsing: try readText(toml), file: toml).resolve(keysDir: "\(dir)/keys")
    case (false, true):
      return try TrustPolicy(containersPolicyJSON: try readText(json), file: json, baseDir: dir)
    }
  }

  static func readText(_ path: String) throws -> String {
    do { return try String(contentsOfFile: path, encoding: .utf8) } catch {
      throw LiftoffError(.failedPrecondition, "trust policy \(path) cannot be read: \(error.localizedDescription)")
    }
  }

  /// The rule for an image named `ref`; the default for an image known by no name.
  public func rule(for ref: ImageReference?) -> TrustRule {
    guard let ref else { return defaultRule }
    for scope in Self.scopes(of: ref) {
      if let r = rules[scope] { return r }
    }
    return defaultRule
  }

  /// Whether no rule and not the default asks anything of any image.
  public var acceptsEverything: Bool { defaultRule.acceptsAnything && rules.values.allSatisfy(\.acceptsAnything) }

  /// The scopes that can name `ref`, most specific first (containers/image's docker transport).
  public static func scopes(of ref: ImageReference) -> [String] {
    var out: [String] = []
    if let d = ref.digest {
      out.append("\(ref.name)@\(d)")
    } else if let t = ref.tag {
      out.append("\(ref.name):\(t)")
    }
    var name = ref.name
    while true {
      out.append(name)
      guard let slash = name.lastIndex(of: "/") else { break }
      name = String(name[..<slash])
    }
    if let colon = name.firstIndex(of: ":") { name = String(name[..<colon]) }
    while let dot = name.firstIndex(of: ".") {
      name = String(name[name.index(after: dot)...])
      out.append("*." + name)
    }
    return out
  }

  /// Checks a scope as written in a policy: a fully expanded registry, namespace or repository
  /// (optionally with `:tag` or `@digest`), or `*.domain`.
  public static func validateScope(_ scope: String, in file: String) throws {
    func bad(_ why: String) -> LiftoffError { .invalidArgument("trust policy \(file): scope \"\(scope)\": \(why)") }
    guard !scope.isEmpty else { throw bad("empty (the default is set apart)") }
    guard !scope.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) else {
      throw bad("contains white space or control characters")
    }
    if scope.hasPrefix("*.") {
      let domain = scope.dropFirst(2)
      guard !domain.isEmpty, !domain.contains("/"), !domain.contains(":"), !domain.contains("*") else {
        throw bad("a wildcard is *.DOMAIN, with no port or path")
      }
      return
    }
    guard !scope.hasPrefix("docker://") else { throw bad("write it without docker://") }
    let host = String(scope.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)[0])
    guard host.contains(".") || host.contains(":") || host == "localhost" else {
      throw bad("the first component must be a registry host (fully expanded: docker.io/library/busybox, not busybox)")
    }
    guard !scope.contains("*") else { throw bad("only a leading *. is a wildcard") }
    if scope.contains("/") {
      // Must read as a reference; `host/repo` alone must not gain the default tag.
      do { _ = try ImageReference(parsing: scope) } catch let e as LiftoffError { throw bad(e.message) }
    }
  }
}

// MARK: identities

/// How the identity a signature claims (`critical.identity.docker-reference`) must relate to the image
/// reference being checked; containers-policy.json's `signedIdentity` (containers/image
/// signature/policy_reference_match.go).
public enum SignedIdentity: Sendable, Equatable, CustomStringConvertible {
  /// Pulled by tag: the signature names exactly `repo:tag`; pulled by digest: the same repository.
  case matchRepoDigestOrExact
  case matchExact
  /// The same repository, any tag (what cosign writes: a repository without a tag).
  case matchRepository
  case exactReference(String)
  case exactRepository(String)
  case remapIdentity(prefix: String, signedPrefix: String)

  public var description: String {
    switch self {
    case .matchRepoDigestOrExact: return "matchRepoDigestOrExact"
    case .matchExact: return "matchExact"
    case .matchRepository: return "matchRepository"
    case .exactReference(let r): return "exactReference \(r)"
    case .exactRepository(let r): return "exactRepository \(r)"
    case .remapIdentity(let p, let s): return "remapIdentity \(p) → \(s)"
    }
  }

  /// A signature's claimed identity, parsed as containers/image does (normalised, no default tag).
  struct Claimed {
    var ref: ImageReference
    /// Neither tag nor digest.
    var nameOnly: Bool

    init?(_ s: String) {
      guard let r = try? ImageReference(parsing: s), !s.hasPrefix("docker://") else { return nil }
      ref = r
      nameOnly = r.digest == nil && r.tag == ImageReference.defaultTag && !s.hasSuffix(":" + ImageReference.defaultTag)
    }

    /// `name:tag`, `name@digest` (both when both).
    var exact: String { ref.description }
  }

  /// Whether a signature claiming `signed` is acceptable for an image being pulled or run as `intended`.
  public func accepts(signed: String, intended: ImageReference) -> Bool {
    guard let sig = Claimed(signed) else { return false }
    switch self {
    case .matchRepoDigestOrExact:
      return Self.repoDigestOrExact(intended: intended, sig)
    case .matchExact:
      return !sig.nameOnly && sig.exact == intended.description
    case .matchRepository:
      return sig.ref.name == intended.name
    case .exactReference(let r):
      guard let want = Claimed(r), !want.nameOnly, !sig.nameOnly else { return false }
      return want.exact == sig.exact
    case .exactRepository(let r):
      guard let want = Claimed(r) else { return false }
      return want.ref.name == sig.ref.name
    case .remapIdentity(let prefix, let signedPrefix):
      var mapped = intended
      let name = intended.name
      if name == prefix || (name.hasPrefix(prefix) && name.dropFirst(prefix.count).first == "/") {
        guard let m = try? ImageReference(parsing: signedPrefix + String(intended.description.dropFirst(prefix.count))) else { return false }
        mapped = m
      }
      return Self.repoDigestOrExact(intended: mapped, sig)
    }
  }

  static func repoDigestOrExact(intended: ImageReference, _ sig: Claimed) -> Bool {
    if sig.nameOnly { return false }
    if intended.digest != nil { return sig.ref.name == intended.name }
    return sig.exact == intended.description
  }
}
