// Image trust through the CRI, over the real socket, with images in the real test registry signed by
// hack/sigstore-sign.py (cosign's layout and key format): with a signedBy rule for the test's
// repository, PullImage of a signed image succeeds and of an unsigned or tampered one fails with
// FAILED_PRECONDITION naming the rule; a container from an image pulled before the rule existed is
// refused at CreateContainer (by name, and by ID with user_specified_image, as kubelet sends it) until
// the image is pulled and verified again; `liftoff app add` holds the same line.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffCore
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct TrustCRITests {
  /// A repository of the test's own in the registry, a trust directory and two key pairs.
  struct Setup {
    let root: String
    let prefix: String
    var trust: String { root + "/trust" }

    init(registry: String) throws {
      root = "/tmp/liftoff-trust-cri-\(UUID().uuidString.prefix(8))"
      prefix = "\(registry)/liftoff-trust-cri-\(String(format: "%08x", UInt32.random(in: 0...UInt32.max)))"
      try FileManager.default.createDirectory(atPath: trust + "/keys", withIntermediateDirectories: true)
      try "pass".write(toFile: root + "/pass", atomically: true, encoding: .utf8)
      for (name, type) in [("team", "ecdsa-p256"), ("other", "ed25519")] {
        try runTool(["/usr/bin/python3", repositoryRoot + "/hack/sigstore-sign.py", "keygen", "--type", type, "--passphrase-file", root + "/pass", "\(root)/\(name)"])
      }
    }

    func push(_ image: String, as repoTag: String) throws -> String {
      let images = TestEnvironment.images
      try runTool(["/usr/bin/python3", repositoryRoot + "/hack/push-image.py", "\(images)/\(image)", "\(prefix)/\(repoTag)"])
      return "\(prefix)/\(repoTag)"
    }

    func sign(_ ref: String, key: String, _ extra: [String] = []) throws {
      try runTool(
        ["/usr/bin/python3", repositoryRoot + "/hack/sigstore-sign.py", "sign", "--key", "\(root)/\(key).key", "--passphrase-file", root + "/pass"]
          + extra + [ref])
    }

    /// policy.toml: a signedBy rule for the test's repository, team.pub its key.
    func requireTeamSignatures() throws {
      try FileManager.default.copyItem(atPath: root + "/team.pub", toPath: trust + "/keys/team.pub")
      try "[[rule]]\nprefix = \"\(prefix)\"\ntype = \"signedBy\"\nkeys = [\"team.pub\"]\n".write(
        toFile: trust + "/policy.toml", atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
  }

  func expectRefusal(_ body: () async throws -> Void, _ wants: [String], sourceLocation: SourceLocation = #_sourceLocation) async {
    do {
      try await body()
      Issue.record("not refused", sourceLocation: sourceLocation)
    } catch let e as RPCError {
      #expect(e.code == .failedPrecondition, "\(e)", sourceLocation: sourceLocation)
      for w in wants { #expect(e.message.contains(w), "want \(w): \(e.message)", sourceLocation: sourceLocation) }
    } catch {
      Issue.record("\(error)", sourceLocation: sourceLocation)
    }
  }

  @Test(.needsRegistry) func pullAndCreateAreHeldToTheTrustPolicy() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let setup = try Setup(registry: registry)
    defer { setup.remove() }
    let early = try setup.push("busybox", as: "early:1")
    try setup.sign(early, key: "team")
    let signed = try setup.push("web", as: "web:signed")
    try setup.sign(signed, key: "team")
    let unsigned = try setup.push("layers", as: "layers:unsigned")
    let tampered = try setup.push("docker", as: "docker:other-key")
    try setup.sign(tampered, key: "other")
    let forged = try setup.push("dockerlist", as: "dockerlist:other-repo")
    try setup.sign(forged, key: "team", ["--identity", "\(setup.prefix)/web:signed"])

    let server = try CRITestServer(extraArguments: ["--trust-dir", setup.trust])
    defer { server.stop() }
    try await server.withClients { runtime, images in
      // No rule yet: pulled as before, nothing verified.
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = early
      let earlyID = try await images.pullImage(pull).imageRef
      let sandbox = try await pullAndRunSandbox(runtime, images, image: early, name: "trust")

      try setup.requireTeamSignatures()
      let rule = "rule \"\(setup.prefix)\" (signedBy team.pub) in \(setup.trust)/policy.toml"
      for (ref, why) in [(unsigned, "no signature"), (tampered, "not signed by team.pub"), (forged, "signed for \(setup.prefix)/web:signed")] {
        var p = Runtime_V1_PullImageRequest()
        p.image.image = ref
        await expectRefusal({ _ = try await images.pullImage(p) }, ["pull \(ref)", "refused by the trust policy", rule, why])
      }
      var listed = Runtime_V1_ListImagesRequest()
      listed.filter.image.image = unsigned
      #expect(try await images.listImages(listed).images.isEmpty)

      // Pulled before the rule: refused at create, by name and as kubelet asks (ID + user_specified_image).
      var byName = shellContainer("early", image: early, "sleep 100")
      byName.logPath = ""
      var byID = byName
      byID.image.image = earlyID
      byID.image.userSpecifiedImage = early
      for config in [byName, byID] {
        var create = Runtime_V1_CreateContainerRequest()
        create.podSandboxID = sandbox
        create.config = config
        create.sandboxConfig = sandboxConfig("trust")
        await expectRefusal(
          { _ = try await runtime.createContainer(create) },
          ["image \(earlyID) refused by the trust policy", "\(early): \(rule)", "pull it again to verify it"])
      }
      // `liftoff app add` (what CreateContainer runs, and any script) refuses it too.
      let out = try? runTool([
        liftoffBinDir() + "/liftoff", "--dir", server.dir, "--trust-dir", setup.trust, "app", "add", sandbox, early, "--name", "x",
      ])
      #expect(out == nil)

      // Pulled again under the rule, it is verified; a signed image pulled now is accepted and runs.
      _ = try await images.pullImage(pull)
      var p = Runtime_V1_PullImageRequest()
      p.image.image = signed
      let signedID = try await images.pullImage(p).imageRef
      var web = shellContainer("web", image: signedID, "echo trusted; sleep 100")
      web.image.userSpecifiedImage = signed
      let id = try await createAndStart(runtime, sandboxID: sandbox, web)
      #expect(try await execOutput(runtime, id, "cat /www/index.html").contains("liftoff-test-web"))
      var create = Runtime_V1_CreateContainerRequest()
      create.podSandboxID = sandbox
      create.config = byID
      create.sandboxConfig = sandboxConfig("trust")
      _ = try await runtime.createContainer(create)
    }
  }
}
