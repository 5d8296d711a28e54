// `liftoff trust add|list|rm` (rkt's words): keys and rules of the image trust policy in `--trust-dir`
// (default /etc/liftoff/trust; LiftoffCatalog TrustPolicy.swift says how it applies).
//
//   trust add --prefix REGISTRY[/REPO] [--identity MATCH] KEY.pub   copy the key to keys/<fingerprint>.pub
//                                                                   and require its signature under the prefix
//   trust list [--format json]                                       the policy in force: rules, keys, fingerprints
//   trust rm --prefix P [KEY.pub|FINGERPRINT|NAME]                   drop one key from P's rule, or the whole rule
//
// They edit policy.toml (rewritten whole, atomically; comments are not kept). A node whose policy is
// policy.json (containers-policy.json) is edited by hand: these commands refuse to touch it.
import ArgumentParser
import Foundation
import LiftoffCLI
import LiftoffCatalog
import LiftoffCore
import LiftoffImage
import LiftoffOS

struct TrustCommand: AsyncParsableCommand {
  static let configuration = {
    var c = ImageCommands.trust
    c.subcommands = [Add.self, List.self, Remove.self]
    return c
  }()

  /// The policy.toml `add` and `rm` edit (a new one when the directory holds none).
  static func editable(_ dir: String) throws -> TrustTOMLPolicy {
    let json = "\(dir)/\(TrustPolicy.jsonName)"
    let toml = "\(dir)/\(TrustPolicy.tomlName)"
    guard !FileManager.default.fileExists(atPath: json) else {
      throw LiftoffError(
        .failedPrecondition, "the trust policy is \(json) (containers-policy.json format): edit it by hand; liftoff trust edits policy.toml")
    }
    guard FileManager.default.fileExists(atPath: toml) else { return TrustTOMLPolicy(file: toml) }
    return try TrustTOMLPolicy(parsing: try String(contentsOfFile: toml, encoding: .utf8), file: toml)
  }

  /// Checks that the edited policy loads (keys and all), then writes it in place atomically.
  static func save(_ policy: TrustTOMLPolicy, dir: String) throws {
    _ = try policy.resolve(keysDir: "\(dir)/keys")
    try FileSystem.makeDirectories(dir)
    try FileSystem.writeAtomically(policy.file, policy.serialized(), mode: 0o644)
  }

  static func fingerprint(_ key: TrustKey) -> String { ContentStore.sha256(Data(key.spki)).encoded }

  struct Add: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "add", abstract: "Require signatures by a public key for images under a prefix: add --prefix REGISTRY[/REPO] KEY.pub.",
      discussion: """
        KEY.pub is a PEM public key (cosign.pub: ECDSA P-256 or Ed25519). It is copied into <trust-dir>/keys
        under its fingerprint, and the prefix's signedBy rule in <trust-dir>/policy.toml gets it (a key of
        several for one prefix: any one of them may sign). Pulls under the prefix then need a cosign
        signature by such a key, and containers are created only from images whose pull verified one.
        """)
    @OptionGroup var options: ImageOptions
    @Option(help: "Registry, namespace or repository the key signs for, fully expanded (docker.io/library/busybox).")
    var prefix: String
    @Option(help: "How the signature's identity must match the image's name: matchRepoDigestOrExact (default), matchExact, matchRepository.")
    var identity: String?
    @Argument(help: "The public key file (PEM).") var key: String

    func run() async throws {
      try await runReportingErrors {
        let dir = options.trustDir
        var policy = try TrustCommand.editable(dir)
        try TrustPolicy.validateScope(prefix, in: "--prefix")
        if let identity, !TrustTOMLPolicy.identities.contains(identity) {
          throw LiftoffError.invalidArgument("--identity \(identity) is not one of \(TrustTOMLPolicy.identities.joined(separator: ", "))")
        }
        let k = try TrustKey(file: key)
        let fp = TrustCommand.fingerprint(k)
        let name = "\(fp.prefix(16)).pub"
        let keyPath = "\(dir)/keys/\(name)"
        if let existing = try? TrustKey(file: keyPath) {
          guard existing.sameKey(k) else { throw LiftoffError(.alreadyExists, "\(keyPath) holds another key with the same fingerprint prefix") }
        }
        if let i = policy.rules.firstIndex(where: { $0.prefix == prefix }) {
          guard policy.rules[i].type == "signedBy" else {
            throw LiftoffError(
              .failedPrecondition,
              "prefix \(prefix) has a \(policy.rules[i].type) rule in \(policy.file); remove it first (liftoff trust rm --prefix \(prefix))")
          }
          if !policy.rules[i].keys.contains(name) { policy.rules[i].keys.append(name) }
          if let identity { policy.rules[i].identity = identity == "matchRepoDigestOrExact" ? nil : identity }
        } else {
          policy.rules.append(.init(prefix: prefix, type: "signedBy", keys: [name], identity: identity == "matchRepoDigestOrExact" ? nil : identity))
        }
        try FileSystem.makeDirectories("\(dir)/keys")
        try FileSystem.writeAtomically(keyPath, k.pem, mode: 0o644)
        try TrustCommand.save(policy, dir: dir)
        print("trusting \(k.algorithm.rawValue) key sha256:\(fp) (\(name)) for images under \(prefix)")
      }
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "Show the trust policy in force: rules, keys, fingerprints.")
    @OptionGroup var options: ImageOptions
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    struct Key: Encodable {
      var name: String, algorithm: String, fingerprint: String
    }
    struct Rule: Encodable {
      var scope: String, requirements: [String], keys: [Key]
    }
    struct Document: Encodable {
      var file: String?
      var defaultRule: Rule?
      var rules: [Rule]
    }

    func run() async throws {
      try await runReportingErrors {
        guard let policy = try TrustPolicy.load(dir: options.trustDir) else {
          if format == .json { return try printJSON(Document(file: nil, defaultRule: nil, rules: [])) }
          print("no trust policy in \(options.trustDir): every image is accepted")
          return
        }
        func rule(_ r: TrustRule) -> Rule {
          var keys: [Key] = []
          for case .signedBy(let ks, _) in r.requirements {
            keys += ks.map { Key(name: $0.name, algorithm: $0.algorithm.rawValue, fingerprint: "sha256:" + TrustCommand.fingerprint($0)) }
          }
          return Rule(scope: r.scope, requirements: r.requirements.map(\.summary), keys: keys)
        }
        let doc = Document(
          file: policy.file, defaultRule: rule(policy.defaultRule), rules: policy.rules.keys.sorted().map { rule(policy.rules[$0]!) })
        if format == .json { return try printJSON(doc) }
        print("policy: \(policy.file)")
        print("default: \(doc.defaultRule!.requirements.joined(separator: "; "))")
        for r in doc.rules {
          print("\(r.scope): \(r.requirements.joined(separator: "; "))")
          for k in r.keys { print("  \(k.name)  \(k.algorithm)  \(k.fingerprint)") }
        }
      }
    }
  }

  struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "rm", abstract: "Stop trusting a key for a prefix, or drop the prefix's rule: rm --prefix P [KEY.pub|FINGERPRINT|NAME].",
      discussion: """
        With a key (its file, its fingerprint or a prefix of it, or its name in the policy) the key leaves the
        prefix's rule, and the rule goes with its last key; without one the prefix's rule goes, whatever it
        is. Key files no rule names any more are removed from <trust-dir>/keys. Images pulled and verified
        with a removed key are no longer accepted at container create.
        """)
    @OptionGroup var options: ImageOptions
    @Option(help: "The rule's prefix, as trust list shows it.") var prefix: String
    @Argument(help: "The key to remove: a PEM file, a fingerprint (prefix) or its name in the policy.") var key: String?

    func run() async throws {
      try await runReportingErrors {
        let dir = options.trustDir
        var policy = try TrustCommand.editable(dir)
        guard let i = policy.rules.firstIndex(where: { $0.prefix == prefix }) else {
          throw LiftoffError.notFound("no rule for prefix \(prefix) in \(policy.file)")
        }
        if let key {
          let names = policy.rules[i].keys
          let fromFile = FileManager.default.fileExists(atPath: key) ? try TrustKey(file: key) : nil
          let want = key.hasPrefix("sha256:") ? String(key.dropFirst(7)) : key
          let matches = names.filter { name in
            if name == key { return true }
            guard let k = try? TrustKey(file: name.hasPrefix("/") ? name : "\(dir)/keys/\(name)") else { return false }
            if let fromFile { return k.sameKey(fromFile) }
            return want.count >= 8 && TrustCommand.fingerprint(k).hasPrefix(want)
          }
          guard !matches.isEmpty else { throw LiftoffError.notFound("rule \(prefix) has no key \(key) (its keys: \(names.joined(separator: ", ")))") }
          policy.rules[i].keys.removeAll { matches.contains($0) }
          if policy.rules[i].keys.isEmpty { policy.rules.remove(at: i) }
          print("removed \(matches.joined(separator: ", ")) from \(prefix)")
        } else {
          policy.rules.remove(at: i)
          print("removed the rule for \(prefix)")
        }
        try TrustCommand.save(policy, dir: dir)
        let named = Set(policy.rules.flatMap(\.keys))
        // Only the files `trust add` made (<16 hex>.pub): other keys an operator keeps there stay.
        for f in (try? FileSystem.list("\(dir)/keys")) ?? [] where f.count == 20 && f.hasSuffix(".pub") && !named.contains(f)
          && Digest.isHexPrefix(f.dropLast(4))
        {
          unlink("\(dir)/keys/\(f)")
        }
      }
    }
  }
}
