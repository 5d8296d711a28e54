// Image trust at pull and at create, against the real local registry of hack/test-env.sh, with images
// signed by hack/sigstore-sign.py (cosign's key format and signature layout, signed with OpenSSL
// through Python's cryptography; Debian's skopeo 1.9 has sigstore disabled): P-256 and Ed25519 keys;
// refused: unsigned, another key, a signature naming another digest or another repository, a payload
// changed after signing, a reject rule; a rule added after the pull refuses the image at create.
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffTestSupport
import Testing

@testable import LiftoffImage

/// Keys and signed images for one test: a repository of its own under 127.0.0.1:5000/liftoff-trust-*.
final class TrustFixture: @unchecked Sendable {
  let t = TempDir("trustpull")
  let registry: String
  /// `<registry>/liftoff-trust-<random>`: the prefix the test's rules name.
  let prefix: String
  var trustDir: String { t.path + "/trust" }
  var keys: String { t.path + "/keys" }

  static var repositoryRoot: String {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }

  init(_ registry: String) throws {
    self.registry = registry
    prefix = "\(registry)/liftoff-trust-\(String(format: "%08x", UInt32.random(in: 0...UInt32.max)))"
    _ = t.sub("trust")
    _ = t.sub("keys")
    try "test-passphrase".write(toFile: keys + "/pass", atomically: true, encoding: .utf8)
  }

  deinit { t.cleanup() }

  @discardableResult
  func tool(_ argv: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
      throw LiftoffError(.internal, "\(argv.joined(separator: " ")): \(String(decoding: e, as: UTF8.self))")
    }
    return String(decoding: o, as: UTF8.self)
  }

  /// keys/NAME.key (cosign's encrypted format) and keys/NAME.pub.
  func keygen(_ name: String, _ type: String = "ecdsa-p256") throws {
    try tool(["/usr/bin/python3", Self.repositoryRoot + "/hack/sigstore-sign.py", "keygen", "--type", type, "--passphrase-file", keys + "/pass", "\(keys)/\(name)"])
  }

  /// Pushes a test image (hack/test-env.sh's layouts) as `<prefix>/<repoTag>`; returns the reference.
  @discardableResult
  func push(_ image: String = "busybox", as repoTag: String) throws -> String {
    let images = TestEnvironment.images
    let ref = "\(prefix)/\(repoTag)"
    try tool(["/usr/bin/python3", Self.repositoryRoot + "/hack/push-image.py", "\(images)/\(image)", ref])
    return ref
  }

  func sign(_ ref: String, key: String, _ extra: [String] = []) throws {
    try tool(
      ["/usr/bin/python3", Self.repositoryRoot + "/hack/sigstore-sign.py", "sign", "--key", "\(keys)/\(key).key", "--passphrase-file", keys + "/pass"]
        + extra + [ref])
  }

  /// The manifest digest a reference resolves to in the registry.
  func digest(_ ref: String) throws -> String {
    let rest = ref.dropFirst(registry.count + 1)
    let repo = rest[..<rest.lastIndex(of: ":")!], tag = rest[rest.index(after: rest.lastIndex(of: ":")!)...]
    let out = try tool([
      "/usr/bin/curl", "-sf", "-o", "/dev/null", "-D", "-", "-H",
      "Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
      "http://\(registry)/v2/\(repo)/manifests/\(tag)",
    ])
    let line = out.split(whereSeparator: \.isNewline).first { $0.lowercased().hasPrefix("docker-content-digest:") }!
    return line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
  }

  func policy(_ toml: String) throws {
    try toml.write(toFile: trustDir + "/policy.toml", atomically: true, encoding: .utf8)
  }

  /// A signedBy rule for the test's prefix with keys/NAME.pub copied into the trust dir.
  func signedBy(_ names: [String], identity: String? = nil, default def: String = "insecureAcceptAnything") throws {
    try? FileManager.default.createDirectory(atPath: trustDir + "/keys", withIntermediateDirectories: true)
    for n in names {
      try? FileManager.default.removeItem(atPath: "\(trustDir)/keys/\(n).pub")
      try FileManager.default.copyItem(atPath: "\(keys)/\(n).pub", toPath: "\(trustDir)/keys/\(n).pub")
    }
    try policy(
      """
      default = "\(def)"
      [[rule]]
      prefix = "\(prefix)"
      type = "signedBy"
      keys = [\(names.map { "\"\($0).pub\"" }.joined(separator: ", "))]
      \(identity.map { "identity = \"\($0)\"" } ?? "")
      """)
  }

  func store() throws -> ImageStore {
    try ImageStore(root: t.path + "/images", platform: Platform(architecture: "amd64", os: "linux"), trustDir: trustDir)
  }
}

@Suite(.serialized) struct TrustPullTests {
  /// Pulls and expects a FAILED_PRECONDITION that names the rule and says `why`; nothing is stored.
  func refused(
    _ s: ImageStore, _ ref: String, _ why: String, rule: String, stored: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
  ) async {
    do {
      _ = try await s.pull(ref)
      Issue.record("\(ref) was pulled", sourceLocation: sourceLocation)
    } catch let e as LiftoffError {
      #expect(e.code == .failedPrecondition, "\(e)", sourceLocation: sourceLocation)
      #expect(e.message.contains("refused by the trust policy"), "\(e)", sourceLocation: sourceLocation)
      #expect(e.message.contains("rule \"\(rule)\""), "\(e)", sourceLocation: sourceLocation)
      #expect(e.message.contains(why), "want \(why): \(e)", sourceLocation: sourceLocation)
    } catch {
      Issue.record("\(error)", sourceLocation: sourceLocation)
    }
    if !stored { #expect(throws: (any Error).self, sourceLocation: sourceLocation) { try s.resolve(ref) } }
  }

  @Test(.needsRegistry) func withoutAPolicyNothingIsFetchedOrRecorded() async throws {
    let reg = try TestRegistry.load()
    let f = try TrustFixture(reg.plain)
    let ref = try f.push(as: "busybox:unsigned")
    let s = try f.store()
    _ = try await s.pull(ref)
    #expect(!FileManager.default.fileExists(atPath: s.catalog.trustDir))
    // A policy whose rules all accept anything asks for nothing either.
    try f.policy("default = \"insecureAcceptAnything\"\n[[rule]]\nprefix = \"\(f.prefix)\"\ntype = \"insecureAcceptAnything\"\n")
    _ = try await s.pull(ref)
    #expect(!FileManager.default.fileExists(atPath: s.catalog.trustDir))
  }

  @Test(.needsRegistry) func signedImagesArePulledAndTheirVerificationRecorded() async throws {
    let reg = try TestRegistry.load()
    let f = try TrustFixture(reg.plain)
    try f.keygen("team")
    try f.keygen("ed", "ed25519")
    let p256 = try f.push(as: "busybox:p256")
    try f.sign(p256, key: "team")
    let ed = try f.push("web", as: "web:ed25519")
    try f.sign(ed, key: "ed")
    try f.signedBy(["team", "ed"])
    let s = try f.store()
    let img = try await s.pull(p256)
    let rec = try #require(try s.catalog.trustRecord(try Digest(img.manifestDigest!)))
    #expect(rec.signatures.count == 1)
    #expect(rec.signatures[0].signedIdentity == p256 && rec.signatures[0].keyName == "team.pub")
    #expect(rec.signatures[0].pulledAs == p256 && rec.signatures[0].rule == f.prefix)
    let web = try await s.pull(ed)
    #expect(try s.catalog.trustRecord(try Digest(web.manifestDigest!))?.signatures.first?.keyName == "ed.pub")
    // The record is root's alone, as the image records are.
    var st = stat()
    stat(s.catalog.trustRecordPath(try Digest(web.manifestDigest!)), &st)
    #expect(st.st_mode & 0o777 == 0o600)
    // The create-time check accepts both, by name, by ID and by digest reference.
    let policy = try #require(try TrustPolicy.load(dir: f.trustDir))
    try s.catalog.enforceTrust(trustDir: f.trustDir, imageID: img.id, spec: p256)
    try s.catalog.enforceTrust(trustDir: f.trustDir, imageID: img.id, spec: img.id)
    try s.catalog.enforceTrust(trustDir: f.trustDir, imageID: web.id, spec: "\(f.prefix)/web@\(web.manifestDigest!)")
    try s.catalog.checkTrust(policy, imageID: web.id, requested: nil)
    // Pulled by digest, a signature for a tag of the same repository is accepted (matchRepoDigestOrExact).
    let byDigest = "\(f.prefix)/busybox@\(try f.digest(p256))"
    let fresh = try ImageStore(root: f.t.path + "/images2", platform: Platform(architecture: "amd64", os: "linux"), trustDir: f.trustDir)
    _ = try await fresh.pull(byDigest)
  }

  @Test(.needsRegistry) func unsignedOtherKeyOtherDigestOtherRepositoryAndChangedPayloadsAreRefused() async throws {
    let reg = try TestRegistry.load()
    let f = try TrustFixture(reg.plain)
    try f.keygen("team")
    try f.keygen("other")
    // Signatures attach to a manifest digest in a repository: each case gets an image of its own.
    let unsigned = try f.push("web", as: "web:unsigned")
    let otherKey = try f.push(as: "busybox:otherkey")
    try f.sign(otherKey, key: "other")
    // A signature that names the web image's digest, attached to busybox's.
    let web = try f.push("web", as: "web:1")
    let otherDigest = try f.push("layers", as: "layers:otherdigest")
    try f.sign(otherDigest, key: "team", ["--digest", try f.digest(web)])
    let otherRepo = try f.push("docker", as: "docker:otherrepo")
    try f.sign(otherRepo, key: "team", ["--identity", "\(f.prefix)/somewhere-else:otherrepo"])
    let changed = try f.push("dockerlist", as: "dockerlist:changed")
    try f.sign(changed, key: "team", ["--corrupt"])
    try f.signedBy(["team"])
    let s = try f.store()
    await refused(s, unsigned, "no signature: \(f.prefix)/web:sha256-", rule: f.prefix)
    await refused(s, otherKey, "not signed by team.pub", rule: f.prefix)
    await refused(s, otherDigest, "signed for manifest \(try f.digest(web)), not", rule: f.prefix)
    await refused(s, otherRepo, "signed for \(f.prefix)/somewhere-else:otherrepo, which identity matchRepoDigestOrExact does not accept", rule: f.prefix)
    await refused(s, changed, "not signed by team.pub", rule: f.prefix)
    // Nothing of the refused pulls was stored: no layer, no record.
    #expect(((try? FileManager.default.contentsOfDirectory(atPath: s.root + "/layers")) ?? []).isEmpty)
    #expect(s.imageRecords().isEmpty)
  }

  @Test(.needsRegistry) func rejectRulesAndCosignIdentities() async throws {
    let reg = try TestRegistry.load()
    let f = try TrustFixture(reg.plain)
    try f.keygen("team")
    let img = try f.push(as: "busybox:1")
    // cosign writes the repository without a tag: refused under the default identity rule …
    try f.sign(img, key: "team", ["--identity", "\(f.prefix)/busybox"])
    try f.signedBy(["team"])
    let s = try f.store()
    await refused(s, img, "which identity matchRepoDigestOrExact does not accept", rule: f.prefix)
    // … accepted with matchRepository.
    try f.signedBy(["team"], identity: "matchRepository")
    _ = try await s.pull(img)
    // A reject rule refuses before the registry is asked, under any name below it.
    try f.policy("[[rule]]\nprefix = \"\(f.prefix)/busybox\"\ntype = \"reject\"\n")
    await refused(s, img, "rejected", rule: "\(f.prefix)/busybox", stored: true)
    await refused(s, "\(f.prefix)/busybox:does-not-exist", "rejected", rule: "\(f.prefix)/busybox")
    // The containers-policy.json form: default reject, a sigstoreSigned scope.
    try FileManager.default.removeItem(atPath: f.trustDir + "/policy.toml")
    try """
      {"default": [{"type": "reject"}],
       "transports": {"docker": {"\(f.prefix)": [{"type": "sigstoreSigned", "keyPath": "keys/team.pub", "signedIdentity": {"type": "matchRepository"}}]}}}
      """.write(toFile: f.trustDir + "/policy.json", atomically: true, encoding: .utf8)
    _ = try await s.pull(img)
    do {
      _ = try await s.pull("\(reg.plain)/liftoff-test/busybox")
      Issue.record("the default reject rule let a pull through")
    } catch let e as LiftoffError {
      #expect(e.code == .failedPrecondition && e.message.contains("default rule (reject) in \(f.trustDir)/policy.json"), "\(e)")
    }
  }

  @Test(.needsRegistry) func aRuleAddedAfterThePullRefusesTheImageAtCreateUntilItIsVerified() async throws {
    let reg = try TestRegistry.load()
    let f = try TrustFixture(reg.plain)
    try f.keygen("team")
    try f.keygen("other")
    let ref = try f.push(as: "busybox:signed")
    try f.sign(ref, key: "team")
    let s = try f.store()
    let img = try await s.pull(ref)  // no policy yet: nothing verified, nothing recorded
    try s.catalog.enforceTrust(trustDir: f.trustDir, imageID: img.id, spec: ref)
    try f.signedBy(["team"])
    for spec in [ref, img.id] {
      do {
        try s.catalog.enforceTrust(trustDir: f.trustDir, imageID: img.id, spec: spec)
        Issue.record("an image pulled before the rule was accepted (\(spec))")
      } catch let e as LiftoffError {
        #expect(e.code == .failedPrecondition, "\(e)")
        #expect(e.message.contains("image \(img.id) refused by the trust policy: "), "\(e)")
        #expect(e.message.contains("\(ref): rule \"\(f.prefix)\" (signedBy team.pub) in \(f.trustDir)/policy.toml"), "\(e)")
        #expect(e.message.contains("pull it again to verify it"), "\(e)")
      }
    }
    // The CRI's user_specified_image is the name held to the rule when the image is asked for by ID.
    #expect(throws: LiftoffError.self) { try s.catalog.enforceTrust(trustDir: f.trustDir, imageID: img.id, spec: img.id, userSpecified: ref) }
    // Pulled again, it is verified and accepted.
    _ = try await s.pull(ref)
    try s.catalog.enforceTrust(trustDir: f.trustDir, imageID: img.id, spec: ref)
    try s.catalog.enforceTrust(trustDir: f.trustDir, imageID: img.id, spec: img.id, userSpecified: ref)
    // Once the rule trusts another key only, what the old key vouched for is refused again.
    try f.signedBy(["other"])
    #expect(throws: LiftoffError.self) { try s.catalog.enforceTrust(trustDir: f.trustDir, imageID: img.id, spec: ref) }
    // gc keeps the record while the image is there, and drops it with the image.
    try f.signedBy(["team"])
    try s.garbageCollect(inUse: [])
    #expect(try s.catalog.trustRecord(try Digest(img.manifestDigest!)) != nil)
    try s.remove(img.id)
    try s.garbageCollect(inUse: [])
    #expect(try s.catalog.trustRecord(try Digest(img.manifestDigest!)) == nil)
  }
}
