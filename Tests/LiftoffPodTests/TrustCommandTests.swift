// `liftoff trust add|list|rm` and the policy they write, enforced by `liftoff fetch` (pull) and
// `liftoff run` (create) through the real binaries, against the test registry, with images signed by
// hack/sigstore-sign.py. The trust directory is the test's own (`--trust-dir`), never /etc/liftoff/trust.
import Foundation
import LiftoffCore
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct TrustCommandTests {
  static let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
  }()

  @discardableResult
  static func tool(_ argv: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: argv[0])
    p.arguments = Array(argv.dropFirst())
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.standardError
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { throw LiftoffError(.internal, "\(argv.joined(separator: " ")) failed") }
    return String(decoding: o, as: UTF8.self)
  }

  @Test(.needsRoot, .needsRegistry) func trustCommandsWriteThePolicyThatFetchAndRunEnforce() throws {
    let registry = try TestEnvironment.requireRegistry()
    let f = try PodFixture("trust")
    defer { f.tearDown() }
    let trust = f.base + "/trust"
    let keys = f.base + "/keys"
    try FileManager.default.createDirectory(atPath: keys, withIntermediateDirectories: true)
    try "pass".write(toFile: keys + "/pass", atomically: true, encoding: .utf8)
    let sign = Self.repositoryRoot + "/hack/sigstore-sign.py"
    for (name, type) in [("team", "ecdsa-p256"), ("ed", "ed25519")] {
      try Self.tool(["/usr/bin/python3", sign, "keygen", "--type", type, "--passphrase-file", keys + "/pass", "\(keys)/\(name)"])
    }
    let prefix = "\(registry)/liftoff-trust-cli-\(String(format: "%08x", UInt32.random(in: 0...UInt32.max)))"
    let images = TestEnvironment.images
    // Signatures attach to a manifest digest in a repository: each case gets an image of its own.
    let early = "\(prefix)/docker:early", signed = "\(prefix)/busybox:signed", unsigned = "\(prefix)/web:unsigned"
    for (image, ref) in [("docker", early), ("busybox", signed), ("web", unsigned)] {
      try Self.tool(["/usr/bin/python3", Self.repositoryRoot + "/hack/push-image.py", "\(images)/\(image)", ref])
    }
    try Self.tool(["/usr/bin/python3", sign, "sign", "--key", keys + "/ed.key", "--passphrase-file", keys + "/pass", signed])
    func liftoff(_ args: [String]) throws -> PodFixture.Result { try f.liftoff(["--trust-dir", trust] + args) }

    #expect(try liftoff(["trust", "list"]).stdout.contains("no trust policy in \(trust): every image is accepted"))
    try liftoff(["fetch", "--no-progress", early]).check()  // no rule yet

    let added = try liftoff(["trust", "add", "--prefix", prefix, keys + "/team.pub"])
    added.check()
    #expect(added.stdout.contains("trusting ecdsa-p256 key sha256:"))
    try liftoff(["trust", "add", "--prefix", prefix, keys + "/ed.pub"]).check()
    let toml = try String(contentsOfFile: trust + "/policy.toml", encoding: .utf8)
    #expect(toml.contains("prefix = \"\(prefix)\"\ntype = \"signedBy\"\nkeys = ["))
    let listed = try liftoff(["trust", "list", "--format", "json"])
    listed.check()
    let doc = try JSON.parse(listed.stdout)
    let rule = try #require(doc["rules"]?.arrayValue?.first)
    #expect(rule["scope"]?.stringValue == prefix)
    #expect(rule["keys"]?.arrayValue?.compactMap { $0["algorithm"]?.stringValue } == ["ecdsa-p256", "ed25519"])
    let edFingerprint = try #require(rule["keys"]?.arrayValue?.last?["fingerprint"]?.stringValue)

    let bad = try liftoff(["trust", "add", "--prefix", "busybox", keys + "/team.pub"])
    #expect(bad.status == 2 && bad.stderr.contains("fully expanded"), "\(bad.stderr)")

    // fetch: signed by a trusted key, accepted; unsigned, refused naming the rule (nothing stored).
    try liftoff(["fetch", "--no-progress", signed]).check()
    let refused = try liftoff(["fetch", "--no-progress", unsigned])
    #expect(refused.status == 1)
    #expect(refused.stderr.contains("pull \(unsigned)") && refused.stderr.contains("rule \"\(prefix)\" (signedBy "), "\(refused.stderr)")
    #expect(refused.stderr.contains("no signature"), "\(refused.stderr)")
    #expect(try liftoff(["image", "list"]).stdout.contains("web") == false)

    // run: the image fetched before the rule is refused; the verified one runs.
    let runEarly = try liftoff(["run", "--net=none", early, "--exec", "/bin/true"])
    #expect(runEarly.status != 0 && runEarly.stderr.contains("refused by the trust policy"), "\(runEarly.stderr)")
    #expect(runEarly.stderr.contains("pull it again to verify it"), "\(runEarly.stderr)")
    let runSigned = try liftoff(["run", "--net=none", signed, "--exec", "/bin/sh", "--", "-c", "echo trusted"])
    runSigned.check()
    #expect(runSigned.stdout.contains("trusted"))

    // rm by fingerprint: the ed key goes, and with it the image it vouched for at create.
    try liftoff(["trust", "rm", "--prefix", prefix, String(edFingerprint.prefix(20))]).check()
    #expect(try liftoff(["run", "--net=none", signed, "--exec", "/bin/true"]).status != 0)
    try liftoff(["trust", "rm", "--prefix", prefix]).check()
    #expect(try FileManager.default.contentsOfDirectory(atPath: trust + "/keys").isEmpty)
    try liftoff(["run", "--net=none", early, "--exec", "/bin/true"]).check()

    // A containers-policy.json node is edited by hand.
    try #"{"default":[{"type":"insecureAcceptAnything"}]}"#.write(toFile: trust + "/policy.json", atomically: true, encoding: .utf8)
    try FileManager.default.removeItem(atPath: trust + "/policy.toml")
    let json = try liftoff(["trust", "add", "--prefix", prefix, keys + "/team.pub"])
    #expect(json.status == 1 && json.stderr.contains("edit it by hand"), "\(json.stderr)")
  }
}
