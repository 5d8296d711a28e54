// Runtime handlers from cri.toml through the real socket: Status lists them with their features; a
// handler that forces a seccomp profile confines a container that asked for none (checked from inside
// it: mkdir fails, /proc/self/status says Seccomp 2), while the default handler leaves it unconfined; a
// handler that requires a user namespace refuses a sandbox without one and runs one with one; an
// unknown handler is INVALID_ARGUMENT naming it; a bad table stops liftoff-cri naming the table and key.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffCore
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct RuntimeHandlerTests {
  @Test(.needsRegistry) func configuredHandlersRunPodsWithTheirOptions() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-rh-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let profile = scratch + "/deny-mkdir.json"
    try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#
      .write(toFile: profile, atomically: true, encoding: .utf8)
    let config = scratch + "/cri.toml"
    try """
      [runtime-handlers.confined]
      flavor = "default"
      seccomp = "\(profile)"

      [runtime-handlers.isolated]
      user-namespace = "required"

      [runtime-handlers.node-tools]
      flavor = "fly"
      """.write(toFile: config, atomically: true, encoding: .utf8)
    let server = try CRITestServer(extraArguments: ["--config", config])
    defer { server.stop() }
    try await server.withClients { runtime, images in
      let status = try await runtime.status(.init())
      #expect(status.runtimeHandlers.map(\.name) == ["", "confined", "default", "fly", "isolated", "node-tools"])
      let userns = Dictionary(uniqueKeysWithValues: status.runtimeHandlers.map { ($0.name, $0.features.userNamespaces) })
      #expect(userns["node-tools"] == false && userns["fly"] == false)
      #expect(userns["confined"] == userns["default"] && userns["isolated"] == userns["default"])

      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = image
      _ = try await images.pullImage(pull)

      // The same container, asking for no seccomp profile, in a pod of each handler.
      var results: [String: String] = [:]
      for handler in ["confined", "default"] {
        var run = Runtime_V1_RunPodSandboxRequest()
        run.config = sandboxConfig("rh-" + handler)
        run.runtimeHandler = handler
        let sandboxID = try await runtime.runPodSandbox(run).podSandboxID
        var list = Runtime_V1_ListPodSandboxRequest()
        list.filter.id = sandboxID
        #expect(try await runtime.listPodSandbox(list).items.first?.runtimeHandler == handler)
        var create = Runtime_V1_CreateContainerRequest()
        create.podSandboxID = sandboxID
        create.sandboxConfig = run.config
        create.config = containerConfig("app", image: image, "sleep 1000")
        if handler == "confined" {
          // Unconfined asked explicitly gets the handler's profile too.
          create.config.linux.securityContext.seccomp.profileType = .unconfined
        }
        let id = try await createAndStart(runtime, sandboxID: sandboxID, create.config)
        results[handler] = try await execOutput(
          runtime, id, "grep '^Seccomp:' /proc/self/status; mkdir /tmp/d 2>&1 && echo made")
      }
      #expect(results["confined"]?.contains("Seccomp:\t2") == true, "\(results)")
      #expect(results["confined"]?.contains("Permission denied") == true, "\(results)")
      #expect(results["default"]?.contains("Seccomp:\t0") == true, "\(results)")
      #expect(results["default"]?.contains("made") == true, "\(results)")

      // user-namespace = "required": refused without one, naming why; accepted with one.
      var isolated = Runtime_V1_RunPodSandboxRequest()
      isolated.config = sandboxConfig("rh-isolated")
      isolated.runtimeHandler = "isolated"
      await expectRPCError(.invalidArgument, "runtime_handler \"isolated\" requires a user namespace") {
        _ = try await runtime.runPodSandbox(isolated)
      }
      let host = UInt32(Int.random(in: 40...4000)) * 65536
      isolated.config.linux.securityContext.namespaceOptions.usernsOptions = UserNamespaceCRITests.podUserns(host)
      let isolatedID = try await runtime.runPodSandbox(isolated).podSandboxID
      var sandboxStatus = Runtime_V1_PodSandboxStatusRequest()
      sandboxStatus.podSandboxID = isolatedID
      #expect(try await runtime.podSandboxStatus(sandboxStatus).status.linux.namespaces.options.usernsOptions.mode == .pod)

      // flavor = "fly": the fly rules apply under the handler's own name (privileged only), and the pod is fly.
      var tools = Runtime_V1_RunPodSandboxRequest()
      tools.config = sandboxConfig("rh-tools")
      tools.runtimeHandler = "node-tools"
      for ns in [\Runtime_V1_NamespaceOption.network, \.pid, \.ipc] { tools.config.linux.securityContext.namespaceOptions[keyPath: ns] = .node }
      await expectRPCError(.invalidArgument, "runtime_handler \"node-tools\" (flavor fly) runs containers in the host's namespaces") {
        _ = try await runtime.runPodSandbox(tools)
      }
      tools.config.linux.securityContext.privileged = true
      let toolsID = try await runtime.runPodSandbox(tools).podSandboxID
      var plain = Runtime_V1_CreateContainerRequest()
      plain.podSandboxID = toolsID
      plain.sandboxConfig = tools.config
      plain.config = containerConfig("plain", image: image, "true")
      await expectRPCError(.invalidArgument, "runs with runtime handler \"node-tools\" (flavor fly)") {
        _ = try await runtime.createContainer(plain)
      }

      var unknown = Runtime_V1_RunPodSandboxRequest()
      unknown.config = sandboxConfig("rh-unknown")
      unknown.runtimeHandler = "gvisor"
      await expectRPCError(.invalidArgument, "runtime_handler \"gvisor\" is not one of \"\", \"confined\"") {
        _ = try await runtime.runPodSandbox(unknown)
      }
    }
  }

  /// KEP-4216: an image pulled for a handler (one store for all): a known handler is accepted, an unknown
  /// one is INVALID_ARGUMENT naming it; ImageStatus and ListImages echo the handler asked about in `spec`.
  @Test(.needsRegistry) func pullImageWithRuntimeHandler() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer(network: false)
    defer { server.stop() }
    try await server.withClients { _, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = image
      pull.image.runtimeHandler = "gvisor"
      await expectRPCError(.invalidArgument, "image.runtime_handler \"gvisor\" is not one of \"\", \"default\", \"fly\"") {
        _ = try await images.pullImage(pull)
      }
      var list = Runtime_V1_ListImagesRequest()
      #expect(try await images.listImages(list).images.isEmpty, "the refused pull stored nothing")
      pull.image.runtimeHandler = "fly"
      let id = try await images.pullImage(pull).imageRef
      #expect(id.hasPrefix("sha256:"))

      var status = Runtime_V1_ImageStatusRequest()
      status.image.image = image
      status.image.runtimeHandler = "fly"
      let forFly = try await images.imageStatus(status).image
      #expect(forFly.id == id && forFly.spec.image == id && forFly.spec.runtimeHandler == "fly")
      status.image.runtimeHandler = ""
      #expect(try await images.imageStatus(status).image.spec.runtimeHandler == "", "one store: the same image for the default handler")
      status.image.runtimeHandler = "kata"
      await expectRPCError(.invalidArgument, "image.runtime_handler \"kata\"") { _ = try await images.imageStatus(status) }

      list.filter.image.runtimeHandler = "default"
      let listed = try await images.listImages(list).images
      #expect(listed.map(\.id) == [id] && listed.allSatisfy { $0.spec.runtimeHandler == "default" })
      list.filter.image.image = image
      #expect(try await images.listImages(list).images.map(\.spec.runtimeHandler) == ["default"])
      list.filter.image.runtimeHandler = "kata"
      await expectRPCError(.invalidArgument, "filter.image.runtime_handler \"kata\"") { _ = try await images.listImages(list) }
    }
  }

  /// A bad table stops liftoff-cri at start (serve and config alike), naming the table and the key.
  @Test func badHandlerTablesStopTheServer() throws {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-rh-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let cases: [(String, String)] = [
      ("[runtime-handlers.vm]\nflavor = \"kvm\"\n", "[runtime-handlers.vm]: flavor \"kvm\" is not one of \"default\", \"fly\""),
      ("[runtime-handlers.vm]\nruntime-path = \"/usr/bin/x\"\n", "[runtime-handlers.vm]: unknown key \"runtime-path\""),
      ("[runtime-handlers.vm]\nuser-namespace = \"yes\"\n", "[runtime-handlers.vm]: user-namespace \"yes\""),
      ("[runtime-handlers.vm]\nflavor = \"fly\"\nseccomp = \"runtime/default\"\n", "runtime-handlers.vm: seccomp cannot be forced with flavor fly"),
      ("[runtime-handlers.vm]\nseccomp = \"/nonexistent/p.json\"\n", "runtime-handlers.vm: seccomp profile /nonexistent/p.json is missing"),
      ("[runtime-handlers.Bad_Name]\n", "is not a RuntimeClass handler name"),
    ]
    for (text, message) in cases {
      let file = scratch + "/cri.toml"
      try text.write(toFile: file, atomically: true, encoding: .utf8)
      for command in [["config"], ["serve", "--socket", scratch + "/s.sock", "--dir", scratch + "/state"]] {
        let (status, _, err) = try runLiftoffCRI(command + ["--config", file])
        #expect(status != 0, "\(text)")
        #expect(err.contains(message), "\(err)")
      }
    }
  }
}
