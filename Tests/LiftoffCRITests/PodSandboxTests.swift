// The CRI sandbox lifecycle over the real socket: RunPodSandbox starts a real mutable pod (stage1
// detached through `liftoff app sandbox`), status and list read it from disk, stop and remove are
// idempotent, names are unique, unknown IDs are NOT_FOUND — and none of it depends on liftoff-cri
// staying up.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffTestSupport
import Testing

func sandboxConfig(_ name: String, uid: String = UUID().uuidString, labels: [String: String] = [:]) -> Runtime_V1_PodSandboxConfig {
  var config = Runtime_V1_PodSandboxConfig()
  config.metadata.name = name
  config.metadata.namespace = "liftoff-test"
  config.metadata.uid = uid
  config.hostname = name
  config.labels = labels
  config.annotations = ["test.liftoff.io/note": "hello"]
  return config
}

func shell(_ command: String) throws -> String {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: "/bin/sh")
  p.arguments = ["-c", command]
  let out = Pipe()
  p.standardOutput = out
  try p.run()
  let data = out.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  return String(decoding: data, as: UTF8.self)
}

@Suite(.serialized) struct PodSandboxTests {
  @Test func lifecycleStatusListStopRemove() async throws {
    let server = try CRITestServer()
    defer { server.stop() }
    try await server.withClients { runtime, _ in
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("alpha", labels: ["app": "a", "tier": "x"])
      run.config.dnsConfig.servers = ["192.0.2.53"]
      run.config.dnsConfig.searches = ["liftoff.test"]
      let hostPort = Int32.random(in: 20000...29999)
      var mapping = Runtime_V1_PortMapping()
      mapping.containerPort = 80
      mapping.hostPort = hostPort
      mapping.hostIp = "127.0.0.1"
      run.config.portMappings = [mapping]
      let id = try await runtime.runPodSandbox(run).podSandboxID
      // DNS config in the pod's resolv.conf; the hostPort in portmap's iptables rules.
      let resolv = try String(contentsOfFile: server.dir + "/pods/run/\(id)/network/resolv.conf", encoding: .utf8)
      #expect(resolv.contains("nameserver 192.0.2.53"))
      #expect(resolv.contains("search liftoff.test"))
      #expect(try shell("iptables -t nat -S").contains("--dport \(hostPort)"))
      #expect(id.count == 64)

      // The same name, namespace, uid and attempt again: refused, naming the holder.
      do {
        _ = try await runtime.runPodSandbox(run)
        Issue.record("a second sandbox with the same name was created")
      } catch let e as RPCError {
        #expect(e.code == .alreadyExists)
        #expect(e.message.contains(id))
      }

      var other = Runtime_V1_RunPodSandboxRequest()
      other.config = sandboxConfig("beta", labels: ["app": "b"])
      let otherID = try await runtime.runPodSandbox(other).podSandboxID

      var statusRequest = Runtime_V1_PodSandboxStatusRequest()
      statusRequest.podSandboxID = String(id.prefix(12))  // a unique prefix works
      statusRequest.verbose = true
      let status = try await runtime.podSandboxStatus(statusRequest)
      #expect(status.status.id == id)
      #expect(status.status.state == .sandboxReady)
      #expect(status.status.metadata.name == "alpha")
      #expect(status.status.metadata.namespace == "liftoff-test")
      #expect(status.status.labels == ["app": "a", "tier": "x"])
      #expect(status.status.annotations == ["test.liftoff.io/note": "hello"])
      #expect(status.status.createdAt > 0)
      #expect(status.info["pod"]?.contains("running") == true)
      // On the test's CNI network: an address from its subnet.
      let prefix = server.subnet.split(separator: ".").prefix(3).joined(separator: ".") + "."
      #expect(status.status.network.ip.hasPrefix(prefix), "\(status.status.network.ip) not in \(server.subnet)")

      // Filters: label selector, id prefix, state.
      var list = Runtime_V1_ListPodSandboxRequest()
      #expect(try await runtime.listPodSandbox(list).items.map(\.id).sorted() == [id, otherID].sorted())
      list.filter.labelSelector = ["app": "b"]
      #expect(try await runtime.listPodSandbox(list).items.map(\.id) == [otherID])
      list.filter = .init()
      list.filter.id = String(id.prefix(10))
      #expect(try await runtime.listPodSandbox(list).items.map(\.id) == [id])

      // liftoff-cri can die at any moment: the sandboxes are still there, still ready.
      server.kill(SIGKILL)
      try server.start()
    }
    try await server.withClients { runtime, _ in
      var list = Runtime_V1_ListPodSandboxRequest()
      list.filter.state.state = .sandboxReady
      let ready = try await runtime.listPodSandbox(list).items
      #expect(ready.count == 2)
      let id = try #require(ready.first { $0.metadata.name == "alpha" }?.id)

      var stop = Runtime_V1_StopPodSandboxRequest()
      stop.podSandboxID = id
      _ = try await runtime.stopPodSandbox(stop)
      _ = try await runtime.stopPodSandbox(stop)  // idempotent
      var statusRequest = Runtime_V1_PodSandboxStatusRequest()
      statusRequest.podSandboxID = id
      let stopped = try await runtime.podSandboxStatus(statusRequest).status
      #expect(stopped.state == .sandboxNotready)
      // Stopping reclaimed its network (CRI: StopPodSandbox reclaims IP addresses): no namespace, no
      // address reported, only the running sandbox's allocation left in host-local's store.
      #expect(!FileManager.default.fileExists(atPath: "/run/netns/liftoff-\(id)"))
      #expect(stopped.network.ip == "")
      let allocations = try FileManager.default.contentsOfDirectory(atPath: "\(server.root)/ipam/\(server.networkName)")
        .filter { $0.first?.isNumber == true }
      #expect(allocations.count == 1, "\(allocations)")
      list.filter.state.state = .sandboxNotready
      #expect(try await runtime.listPodSandbox(list).items.map(\.id) == [id])

      for sandbox in ready {
        var remove = Runtime_V1_RemovePodSandboxRequest()
        remove.podSandboxID = sandbox.id  // the other one is still running: remove stops it first
        _ = try await runtime.removePodSandbox(remove)
        _ = try await runtime.removePodSandbox(remove)  // idempotent
      }
      #expect(try await runtime.listPodSandbox(.init()).items.isEmpty)
      // Removal detached the network: no netns and no hostPort rule of these sandboxes remain.
      for sandbox in ready {
        #expect(!FileManager.default.fileExists(atPath: "/run/netns/liftoff-\(sandbox.id)"))
      }
      #expect(try !shell("iptables -t nat -S").contains(server.networkName))
      await expectRPCError(.notFound, "") { _ = try await runtime.podSandboxStatus(statusRequest) }
      var stopGone = Runtime_V1_StopPodSandboxRequest()
      stopGone.podSandboxID = id
      _ = try await runtime.stopPodSandbox(stopGone)  // gone: still succeeds
    }
    // Nothing is left running under the test's state directory.
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: server.dir + "/pods/run")
    #expect(leftovers.isEmpty, "\(leftovers)")
  }

  /// StopPodSandbox forcibly terminates what still runs (CRI: kubelet has already given the grace
  /// period through StopContainer): a container whose main process ignores SIGTERM (`sleep` as PID 1
  /// of its PID namespace) does not hold it for the pod's stop timeout. Its end is still recorded
  /// (SIGKILL: 137), and `liftoff stop` without --timeout keeps the graceful stop for CLI users.
  @Test(.needsRegistry) func stopPodSandboxKillsRunningContainersAtOnce() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    try await server.withClients { runtime, images in
      let sandboxID = try await pullAndRunSandbox(runtime, images, image: image, name: "stopnow")
      var sleeper = containerConfig("sleeper", image: image, "")
      sleeper.command = ["sleep", "4321"]
      let sleeperID = try await createAndStart(runtime, sandboxID: sandboxID, sleeper)
      var stop = Runtime_V1_StopPodSandboxRequest()
      stop.podSandboxID = sandboxID
      let began = Date()
      _ = try await runtime.stopPodSandbox(stop)
      let took = Date().timeIntervalSince(began)
      #expect(took < 2, "StopPodSandbox took \(took) s with a running container")
      var status = Runtime_V1_ContainerStatusRequest()
      status.containerID = sleeperID
      let s = try await runtime.containerStatus(status).status
      #expect(s.state == .containerExited && s.exitCode == 137, "\(s.state) \(s.exitCode) \(s.reason)")
      var podStatus = Runtime_V1_PodSandboxStatusRequest()
      podStatus.podSandboxID = sandboxID
      #expect(try await runtime.podSandboxStatus(podStatus).status.state == .sandboxNotready)

      // The CLI's stop is still graceful: the stop signal, SIGKILL only after the timeout.
      let cliPod = try await pullAndRunSandbox(runtime, images, image: image, name: "stopcli")
      _ = try await createAndStart(runtime, sandboxID: cliPod, sleeper)
      let cli = Process()
      cli.executableURL = URL(fileURLWithPath: liftoffBinDir() + "/liftoff")
      cli.arguments = ["--dir", server.dir, "--cni-conf-dir", server.cniConfDir, "stop", cliPod]
      cli.standardOutput = FileHandle.nullDevice
      let cliBegan = Date()
      try cli.run()
      cli.waitUntilExit()
      #expect(cli.terminationStatus == 0)
      #expect(Date().timeIntervalSince(cliBegan) >= 9, "liftoff stop without --force waits out the pod's stop timeout")
    }
  }

  /// A host-network sandbox's DNS config reaches its containers' /etc/resolv.conf (kubelet's
  /// dnsPolicy ClusterFirstWithHostNet relies on it); with none, the pod's file is the host's.
  @Test(.needsRegistry) func hostNetworkSandboxGetsItsDNSConfig() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer(network: false)
    defer { server.stop() }
    try await server.withClients { runtime, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = image
      _ = try await images.pullImage(pull)
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("hostdns")
      run.config.linux.securityContext.namespaceOptions.network = .node
      run.config.dnsConfig.servers = ["10.10.10.10"]
      run.config.dnsConfig.searches = ["google.com"]
      run.config.dnsConfig.options = ["ndots:8"]
      let id = try await runtime.runPodSandbox(run).podSandboxID
      let expected = "search google.com\nnameserver 10.10.10.10\noptions ndots:8\n"
      #expect(try String(contentsOfFile: server.dir + "/pods/run/\(id)/network/resolv.conf", encoding: .utf8) == expected)
      let containerID = try await createAndStart(runtime, sandboxID: id, containerConfig("dns", image: image, "exec sleep 300"))
      let seen = try await execOutput(runtime, containerID, "cat /etc/resolv.conf")
      #expect(seen == expected)

      run.config = sandboxConfig("hostdns-default")
      run.config.linux.securityContext.namespaceOptions.network = .node
      let plain = try await runtime.runPodSandbox(run).podSandboxID
      #expect(
        try String(contentsOfFile: server.dir + "/pods/run/\(plain)/network/resolv.conf", encoding: .utf8)
          == String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8))
    }
  }

  @Test func badRequestsNameTheField() async throws {
    let server = try CRITestServer()
    defer { server.stop() }
    try await server.withClients { runtime, _ in
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("gamma")
      run.config.metadata.uid = ""
      await expectRPCError(.invalidArgument, "metadata.uid") { _ = try await runtime.runPodSandbox(run) }
      run.config = sandboxConfig("gamma")
      run.runtimeHandler = "kvm"
      await expectRPCError(.invalidArgument, "kvm") { _ = try await runtime.runPodSandbox(run) }
      var status = Runtime_V1_PodSandboxStatusRequest()
      status.podSandboxID = String(repeating: "f", count: 64)
      await expectRPCError(.notFound, "") { _ = try await runtime.podSandboxStatus(status) }
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: server.dir + "/pods/run").isEmpty)
  }
}
