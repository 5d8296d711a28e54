// The trust policy's pure logic: policy.toml (and its TOML reader), policy.json (containers-policy.json),
// scope lookup, signed-identity matching, public keys, cosign payloads and signature checks.
import Crypto
import Foundation
import LiftoffCatalog
import LiftoffCore
import Testing

@testable import LiftoffImage

@Suite struct TrustPolicyTests {
  /// A temporary trust directory with keys/team.pub (P-256) and keys/ed.pub (Ed25519).
  final class Dir: @unchecked Sendable {
    let t = TempDir("trust")
    let p256 = P256.Signing.PrivateKey()
    let ed = Curve25519.Signing.PrivateKey()
    var path: String { t.path }
    init() throws {
      _ = t.sub("keys")
      try p256.publicKey.pemRepresentation.write(toFile: "\(path)/keys/team.pub", atomically: true, encoding: .utf8)
      try Self.ed25519PEM(ed.publicKey).write(toFile: "\(path)/keys/ed.pub", atomically: true, encoding: .utf8)
    }
    static func ed25519PEM(_ k: Curve25519.Signing.PublicKey) -> String {
      let spki = Data(TrustKey.ed25519Prefix) + k.rawRepresentation
      return "-----BEGIN PUBLIC KEY-----\n\(spki.base64EncodedString())\n-----END PUBLIC KEY-----\n"
    }
    func write(_ name: String, _ text: String) throws { try text.write(toFile: "\(path)/\(name)", atomically: true, encoding: .utf8) }
    deinit { t.cleanup() }
  }

  func ref(_ s: String) throws -> ImageReference { try ImageReference(parsing: s) }

  func error(_ body: () throws -> Void) -> LiftoffError? {
    do { try body() } catch let e as LiftoffError { return e } catch { return LiftoffError(.internal, "\(error)") }
    return nil
  }

  @Test func noPolicyFileMeansNoPolicy() throws {
    let d = try Dir()
    #expect(try TrustPolicy.load(dir: d.path) == nil)
    #expect(try TrustPolicy.load(dir: d.path + "/missing") == nil)
  }

  @Test func tomlPolicyLoadsAndLooksUpTheMostSpecificScope() throws {
    let d = try Dir()
    try d.write(
      "policy.toml",
      """
      # a comment
      default = "reject"   # trailing comment

      [[rule]]
      prefix = "127.0.0.1:5000/team"
      type = "signedBy"
      keys = [
        "team.pub",   # P-256
        'ed.pub',
      ]

      [[rule]]
      prefix = "127.0.0.1:5000/team/open"
      type = "insecureAcceptAnything"

      [[rule]]
      prefix = "*.example.com"
      type = "signedBy"
      keys = ["ed.pub"]
      identity = "matchRepository"

      [[rule]]
      prefix = "docker.io/library/busybox:1.36"
      type = "insecureAcceptAnything"
      """)
    let p = try #require(try TrustPolicy.load(dir: d.path))
    #expect(!p.acceptsEverything)
    #expect(p.rule(for: try ref("127.0.0.1:5000/team/app:1")).scope == "127.0.0.1:5000/team")
    #expect(p.rule(for: try ref("127.0.0.1:5000/team/open/x")).scope == "127.0.0.1:5000/team/open")
    // Whole path components only: team does not cover teamx.
    #expect(p.rule(for: try ref("127.0.0.1:5000/teamx/app")).scope == "")
    #expect(p.rule(for: try ref("registry.example.com:8443/a/b")).scope == "*.example.com")
    #expect(p.rule(for: try ref("busybox:1.36")).scope == "docker.io/library/busybox:1.36")
    #expect(p.rule(for: try ref("busybox")).requirements == [.reject])
    #expect(p.rule(for: nil).requirements == [.reject])
    guard case .signedBy(let keys, let identity) = p.rules["127.0.0.1:5000/team"]!.requirements[0] else {
      Issue.record("not signedBy")
      return
    }
    #expect(keys.map(\.name) == ["team.pub", "ed.pub"])
    #expect(keys.map(\.algorithm) == [.ecdsaP256, .ed25519])
    #expect(identity == .matchRepoDigestOrExact)
    #expect(p.rules["*.example.com"]!.name.contains("rule \"*.example.com\" (signedBy ed.pub, identity matchRepository) in \(d.path)/policy.toml"))
  }

  @Test func tomlRoundTripsThroughItsWriter() throws {
    let doc = TrustTOMLPolicy(
      file: "/x/policy.toml", defaultType: "reject",
      rules: [.init(prefix: "127.0.0.1:5000/a", type: "signedBy", keys: ["k \"1\".pub"], identity: "matchExact"), .init(prefix: "quay.io", type: "reject")])
    #expect(try TrustTOMLPolicy(parsing: doc.serialized(), file: "/x/policy.toml") == doc)
  }

  @Test func tomlMistakesAreNamedWithTheirLine() throws {
    let cases: [(String, String)] = [
      ("default = \"signedBy\"", ":1: default \"signedBy\" is not"),
      ("defualt = \"reject\"", ":1: unknown setting \"defualt\""),
      ("[[rule]]\nprefix = \"quay.io\"\ntype = \"signedBy\"", ":1: rule \"quay.io\": signedBy needs keys"),
      ("[[rule]]\nprefix = \"quay.io\"\ntype = \"reject\"\nkeys = [\"a.pub\"]", "keys and identity belong to signedBy rules"),
      ("[[rule]]\nprefix = \"quay.io\"\ntype = \"trustMe\"", "type \"trustMe\" is not one of"),
      ("[[rule]]\nprefix = \"busybox\"\ntype = \"reject\"", "fully expanded"),
      ("[[rule]]\nprefix = \"quay.io\"\ntype = \"reject\"\n[[rule]]\nprefix = \"quay.io\"\ntype = \"reject\"", ":4: a rule for \"quay.io\" is already on line 1"),
      ("[[rule]]\nprefix = \"quay.io\"\ntype = \"reject\"\nkyes = 1", ":4: unsupported value"),
      ("rule.prefix = \"quay.io\"", ":1: dotted keys are not read here"),
      ("default = \"\"\"reject\"\"\"", ":1: multi-line strings"),
      ("default = \"reject", ":1: unterminated string"),
      ("default = \"reject\" extra", ":1: unexpected \"e\" after the value"),
      ("[rules]\nprefix = \"quay.io\"", ":1: unknown table [rules]"),
      ("[[rule]]\ntype = \"reject\"", ":1: a [[rule]] needs a prefix"),
      ("[[rule]]\nprefix = \"quay.io\"\ntype = \"signedBy\"\nkeys = [\"a.pub\"]\nidentity = \"any\"", "identity \"any\" is not one of"),
    ]
    for (text, want) in cases {
      let e = error { _ = try TrustTOMLPolicy(parsing: text, file: "/t/policy.toml") }
      #expect(e?.code == .invalidArgument, "\(text)")
      #expect(e?.message.contains(want) == true, "\(text): \(e?.message ?? "no error")")
    }
    // Escapes and literal strings read as TOML says.
    let p = try TrustTOMLPolicy(parsing: "[[rule]]\nprefix = 'quay.io'\ntype = \"signedBy\"\nkeys = [\"a\\u0062\\\\c.pub\"]", file: "/t/p")
    #expect(p.rules[0].keys == ["ab\\c.pub"])
  }

  @Test func missingOrForeignKeysAndTwoPolicyFilesAreRefused() throws {
    let d = try Dir()
    try d.write("policy.toml", "[[rule]]\nprefix = \"quay.io\"\ntype = \"signedBy\"\nkeys = [\"gone.pub\"]\n")
    #expect(error { _ = try TrustPolicy.load(dir: d.path) }?.message.contains("gone.pub") == true)
    try P384.Signing.PrivateKey().publicKey.pemRepresentation.write(toFile: "\(d.path)/keys/p384.pub", atomically: true, encoding: .utf8)
    try d.write("policy.toml", "[[rule]]\nprefix = \"quay.io\"\ntype = \"signedBy\"\nkeys = [\"p384.pub\"]\n")
    #expect(error { _ = try TrustPolicy.load(dir: d.path) }?.message.contains("not an ECDSA P-256 (uncompressed) or Ed25519 key") == true)
    try d.write("policy.toml", "default = \"reject\"\n")
    try d.write("policy.json", #"{"default":[{"type":"insecureAcceptAnything"}]}"#)
    let e = error { _ = try TrustPolicy.load(dir: d.path) }
    #expect(e?.code == .failedPrecondition && e?.message.contains("both") == true)
  }

  @Test func containersPolicyJSONIsReadAsCRIOAndPodmanHaveIt() throws {
    let d = try Dir()
    let keyData = Data(d.p256.publicKey.pemRepresentation.utf8).base64EncodedString()
    try d.write(
      "policy.json",
      """
      {
        "default": [{"type": "reject"}],
        "transports": {
          "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]},
          "docker": {
            "127.0.0.1:5000/team": [{"type": "sigstoreSigned", "keyPath": "keys/team.pub"}],
            "127.0.0.1:5000/cosign": [{"type": "sigstoreSigned", "keyDatas": ["\(keyData)"], "signedIdentity": {"type": "matchRepository"}}],
            "127.0.0.1:5000/both": [{"type": "sigstoreSigned", "keyPath": "\(d.path)/keys/team.pub"}, {"type": "sigstoreSigned", "keyPaths": ["keys/ed.pub"]}],
            "127.0.0.1:5000/mirror": [{"type": "sigstoreSigned", "keyPath": "keys/team.pub",
              "signedIdentity": {"type": "remapIdentity", "prefix": "127.0.0.1:5000/mirror", "signedPrefix": "quay.io/upstream"}}],
            "quay.io": [{"type": "insecureAcceptAnything"}]
          }
        }
      }
      """)
    let p = try #require(try TrustPolicy.load(dir: d.path))
    #expect(p.defaultRule.requirements == [.reject])
    #expect(p.rule(for: try ref("quay.io/a/b")).acceptsAnything)
    #expect(p.rule(for: try ref("127.0.0.1:5000/both/x")).requirements.count == 2)
    guard case .signedBy(let keys, let identity) = p.rule(for: try ref("127.0.0.1:5000/cosign/x")).requirements[0] else {
      Issue.record("not signedBy")
      return
    }
    #expect(keys[0].sameKey(try TrustKey(file: "\(d.path)/keys/team.pub")) && keys[0].name == "keyDatas[0]")
    #expect(identity == .matchRepository)
    guard case .signedBy(_, let remap) = p.rule(for: try ref("127.0.0.1:5000/mirror/app:1")).requirements[0] else { return }
    #expect(remap.accepts(signed: "quay.io/upstream/app:1", intended: try ref("127.0.0.1:5000/mirror/app:1")))
    #expect(!remap.accepts(signed: "quay.io/upstream/app:2", intended: try ref("127.0.0.1:5000/mirror/app:1")))
    // The transport's own default ("") overrides the global one for registry images.
    try d.write("policy.json", #"{"default":[{"type":"reject"}],"transports":{"docker":{"":[{"type":"insecureAcceptAnything"}]}}}"#)
    #expect(try TrustPolicy.load(dir: d.path)?.acceptsEverything == true)
  }

  @Test func containersPolicyJSONMistakesAndUnsupportedRequirementsAreNamed() throws {
    let d = try Dir()
    let cases: [(String, String)] = [
      (#"{"transports":{}}"#, "\"default\" is required"),
      (#"{"default":[]}"#, "default: requirements must be a non-empty array"),
      (#"{"default":[{"type":"reject"}],"extra":1}"#, "unknown field \"extra\""),
      (#"{"default":[{"type":"reject","keyPath":"/x"}]}"#, "unknown field \"keyPath\""),
      (#"{"default":[{"type":"signedBy","keyType":"GPGKeys","keyPath":"/k.gpg"}]}"#, "signedBy (GPG simple signing) is not supported"),
      (#"{"default":[{"type":"sigstoreSigned","fulcio":{}}]}"#, "\"fulcio\" is not supported"),
      (#"{"default":[{"type":"sigstoreSigned","keyPath":"keys/team.pub","rekorPublicKeyPath":"/r.pub"}]}"#, "\"rekorPublicKeyPath\" is not supported"),
      (#"{"default":[{"type":"sigstoreSigned","keyPath":"keys/team.pub","keyData":"eA=="}]}"#, "exactly one of keyPath"),
      (#"{"default":[{"type":"sigstoreSigned","keyPath":"keys/team.pub","signedIdentity":{"type":"exactReference","dockerReference":"quay.io/a"}}]}"#, "needs a tag or digest"),
      (#"{"default":[{"type":"reject"}],"transports":{"docker":{"busybox":[{"type":"reject"}]}}}"#, "fully expanded"),
      (#"{"default":[{"type":"reject"}],"transports":{"docker":{"quay.io":[{"type":"reject"}],"quay.io":[{"type":"reject"}]}}}"#, #"duplicate key "quay.io""#),
      (#"{"default":[{"type":"reject"}]"#, "not valid JSON"),
    ]
    for (text, want) in cases {
      try d.write("policy.json", text)
      let e = error { _ = try TrustPolicy.load(dir: d.path) }
      #expect(e?.message.contains(want) == true, "\(text): \(e?.message ?? "no error")")
    }
  }

  @Test func signedIdentitiesMatchAsContainersImageDoes() throws {
    let tagged = try ref("127.0.0.1:5000/team/app:1")
    let pinned = try ref("127.0.0.1:5000/team/app@sha256:" + String(repeating: "a", count: 64))
    let m = SignedIdentity.matchRepoDigestOrExact
    #expect(m.accepts(signed: "127.0.0.1:5000/team/app:1", intended: tagged))
    #expect(!m.accepts(signed: "127.0.0.1:5000/team/app:2", intended: tagged))
    #expect(!m.accepts(signed: "127.0.0.1:5000/team/app", intended: tagged))  // cosign's repository-only identity
    #expect(!m.accepts(signed: "127.0.0.1:5000/team/other:1", intended: tagged))
    #expect(m.accepts(signed: "127.0.0.1:5000/team/app:2", intended: pinned))
    #expect(!m.accepts(signed: "127.0.0.1:5000/team/other:2", intended: pinned))
    #expect(SignedIdentity.matchRepository.accepts(signed: "127.0.0.1:5000/team/app", intended: tagged))
    #expect(!SignedIdentity.matchRepository.accepts(signed: "127.0.0.1:5000/team/app2", intended: tagged))
    #expect(SignedIdentity.matchExact.accepts(signed: "127.0.0.1:5000/team/app:1", intended: tagged))
    #expect(!SignedIdentity.matchExact.accepts(signed: "127.0.0.1:5000/team/app:1", intended: pinned))
    #expect(SignedIdentity.matchRepoDigestOrExact.accepts(signed: "busybox:latest", intended: try ref("docker.io/library/busybox")))
    #expect(!m.accepts(signed: "not a reference", intended: tagged))
  }

  @Test func payloadsAreReadStrictlyAndSignaturesChecked() throws {
    let d = try Dir()
    let digest = "sha256:" + String(repeating: "b", count: 64)
    let payload = Data(
      #"{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/team/app:1"},"image":{"docker-manifest-digest":"\#(digest)"},"type":"cosign container image signature"},"optional":null}"#
        .utf8)
    #expect(try TrustSignature.parsePayload(payload) == .init(manifestDigest: digest, dockerReference: "127.0.0.1:5000/team/app:1"))
    let bad: [(String, String)] = [
      (#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"d"},"type":"cosign container image signature","extra":1},"optional":null}"#, "critical: unknown field \"extra\""),
      (#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"d"},"type":"atomic container signature"},"optional":null}"#, "critical.type"),
      (#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"d"},"type":"cosign container image signature"}}"#, "field \"optional\" missing"),
      (#"{"critical":{"identity":{"docker-reference":"a"},"image":{"docker-manifest-digest":"d"},"type":"cosign container image signature"},"optional":{"timestamp":1.5}}"#, "timestamp is not an integer"),
    ]
    for (text, want) in bad {
      let e = error { _ = try TrustSignature.parsePayload(Data(text.utf8)) }
      #expect(e?.message.contains(want) == true, "\(text): \(e?.message ?? "no error")")
    }
    let team = try TrustKey(file: "\(d.path)/keys/team.pub")
    let ed = try TrustKey(file: "\(d.path)/keys/ed.pub")
    let p256Sig = try d.p256.signature(for: payload).derRepresentation.base64EncodedString()
    let edSig = try d.ed.signature(for: payload).base64EncodedString()
    #expect(TrustSignature.isValid(p256Sig, of: payload, by: team))
    #expect(!TrustSignature.isValid(p256Sig, of: payload, by: ed))
    #expect(TrustSignature.isValid(edSig, of: payload, by: ed))
    #expect(!TrustSignature.isValid(edSig, of: payload + Data(" ".utf8), by: ed))
    #expect(!TrustSignature.isValid(p256Sig, of: payload + Data(" ".utf8), by: team))
    #expect(!TrustSignature.isValid("not base64!", of: payload, by: team))
  }
}
