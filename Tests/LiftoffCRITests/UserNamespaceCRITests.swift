// User namespaces through the CRI (KEP-127) over the real socket, with a real image in real pods:
// RunPodSandbox with userns_options POD, a container in it (ExecSync sees the mapping), an idmapped
// volume, Status' handler features, and the refusals (mismatched container options, bad mappings
// naming the field, modes and handlers that are not supported).
import Foundation
import GRPCCore
@testable import LiftoffCRI
@testable import LiftoffStreaming
import LiftoffTestSupport
import Testing

@Suite(.serialized, .needsRoot)
struct UserNamespaceCRITests {
  static func mapping(_ container: UInt32, _ host: UInt32, _ length: UInt32) -> Runtime_V1_IDMapping {
    var m = Runtime_V1_IDMapping()
    m.containerID = container
    m.hostID = host
    m.length = length
    return m
  }

  /// What kubelet sends for a pod with `hostUsers: false`.
  static func podUserns(_ host: UInt32) -> Runtime_V1_UserNamespace {
    var u = Runtime_V1_UserNamespace()
    u.mode = .pod
    u.uids = [mapping(0, host, 65536)]
    u.gids = [mapping(0, host, 65536)]
    return u
  }

  static func expectRefused(
    _ code: RPCError.Code, _ text: String, _ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation
  ) async {
    do {
      try await body()
      Issue.record("not refused: expected \(code) with \(text)", sourceLocation: sourceLocation)
    } catch let e as RPCError {
      #expect(e.code == code, "\(e.message)", sourceLocation: sourceLocation)
      #expect(e.message.contains(text), "\(e.message)", sourceLocation: sourceLocation)
    } catch {
      Issue.record("\(error)", sourceLocation: sourceLocation)
    }
  }

  @Test(.needsRegistry) func podUserNamespaceExecIdmappedVolumeStatusAndRefusals() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    let host = UInt32(Int.random(in: 40...4000)) * 65536
    let volume = server.root + "/idmapped"
    try FileManager.default.createDirectory(atPath: volume, withIntermediateDirectories: true)
    chmod(volume, 0o755)
    try await server.withClients { runtime, images in
      // Status: user namespaces for the default handlers (this kernel can idmap), never for fly.
      let status = try await runtime.status(.init())
      let features = Dictionary(uniqueKeysWithValues: status.runtimeHandlers.map { ($0.name, $0.features.userNamespaces) })
      #expect(features == ["": true, "default": true, "fly": false])
      #expect(status.features.userNamespacesHostNetwork)

      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = image
      _ = try await images.pullImage(pull)

      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("userns")
      run.config.linux.securityContext.namespaceOptions.usernsOptions = Self.podUserns(host)
      let sandboxID = try await runtime.runPodSandbox(run).podSandboxID
      var sandboxStatus = Runtime_V1_PodSandboxStatusRequest()
      sandboxStatus.podSandboxID = sandboxID
      let reported = try await runtime.podSandboxStatus(sandboxStatus).status.linux.namespaces.options.usernsOptions
      #expect(reported == Self.podUserns(host))

      var create = Runtime_V1_CreateContainerRequest()
      create.podSandboxID = sandboxID
      create.sandboxConfig = run.config
      create.config = containerConfig("app", image: image, "sleep 1000")
      create.config.linux.securityContext.namespaceOptions.usernsOptions = Self.podUserns(host)
      var mount = Runtime_V1_Mount()
      mount.hostPath = volume
      mount.containerPath = "/data"
      mount.uidMappings = [Self.mapping(0, host, 65536)]
      mount.gidMappings = [Self.mapping(0, host, 65536)]
      create.config.mounts = [mount]

      // A container whose options differ from the pod's is refused, naming the field.
      var other = create
      other.config.metadata.name = "other"
      other.config.linux.securityContext.namespaceOptions.usernsOptions = Self.podUserns(host + 65536)
      await Self.expectRefused(.invalidArgument, "config.linux.security_context.namespace_options.userns_options must match") {
        _ = try await runtime.createContainer(other)
      }
      var node = Runtime_V1_UserNamespace()
      node.mode = .node
      other.config.linux.securityContext.namespaceOptions.usernsOptions = node
      await Self.expectRefused(.invalidArgument, "must match sandbox") { _ = try await runtime.createContainer(other) }
      var tmpfsLike = create
      tmpfsLike.config.metadata.name = "halfmapped"
      tmpfsLike.config.mounts[0].gidMappings = []
      await Self.expectRefused(.invalidArgument, "config.mounts[0].gid_mappings: empty") { _ = try await runtime.createContainer(tmpfsLike) }

      let containerID = try await runtime.createContainer(create).containerID
      var start = Runtime_V1_StartContainerRequest()
      start.containerID = containerID
      _ = try await runtime.startContainer(start)

      var exec = Runtime_V1_ExecSyncRequest()
      exec.containerID = containerID
      exec.cmd = ["/bin/sh", "-c", "cat /proc/self/uid_map; id -u; stat -c %u:%g /data; echo hi > /data/made"]
      exec.timeout = 10
      let result = try await runtime.execSync(exec)
      #expect(result.exitCode == 0, "\(String(decoding: result.stderr, as: UTF8.self))")
      let lines = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map {
        $0.split(separator: " ").joined(separator: " ")
      }
      #expect(lines == ["0 \(host) 65536", "0", "0:0"])
      // The idmapped volume maps the pod's root back to the host dir's owner: root.
      var st = stat()
      #expect(lstat(volume + "/made", &st) == 0 && st.st_uid == 0 && st.st_gid == 0)

      // Bad sandbox requests: the field is named, nothing is created.
      let field = "config.linux.security_context.namespace_options.userns_options"
      var bad = run
      bad.config = sandboxConfig("userns-bad")
      var u = Self.podUserns(host)
      u.uids = [Self.mapping(0, host, 0)]
      bad.config.linux.securityContext.namespaceOptions.usernsOptions = u
      await Self.expectRefused(.invalidArgument, "\(field).uids[0]: length must be positive") { _ = try await runtime.runPodSandbox(bad) }
      u = Self.podUserns(host)
      u.gids = [Self.mapping(0, host, 100), Self.mapping(50, host + 1000, 10)]
      bad.config.linux.securityContext.namespaceOptions.usernsOptions = u
      await Self.expectRefused(.invalidArgument, "\(field).gids[1]: container ids overlap") { _ = try await runtime.runPodSandbox(bad) }
      u = Self.podUserns(host)
      u.uids = []
      bad.config.linux.securityContext.namespaceOptions.usernsOptions = u
      await Self.expectRefused(.invalidArgument, "\(field).uids: mode POD needs") { _ = try await runtime.runPodSandbox(bad) }
      u = Self.podUserns(host)
      u.mode = .container
      bad.config.linux.securityContext.namespaceOptions.usernsOptions = u
      await Self.expectRefused(.unimplemented, "\(field).mode") { _ = try await runtime.runPodSandbox(bad) }
      bad.config.linux.securityContext.namespaceOptions.usernsOptions = Self.podUserns(host)
      bad.runtimeHandler = "fly"
      await Self.expectRefused(.invalidArgument, "runtime handler fly") { _ = try await runtime.runPodSandbox(bad) }
      let pods = try await runtime.listPodSandbox(.init()).items
      #expect(pods.map(\.id) == [sandboxID])

      // The host's network with a user namespace (user_namespaces_host_network): the host's network
      // namespace, the pod's mapping.
      var hostRun = Runtime_V1_RunPodSandboxRequest()
      hostRun.config = sandboxConfig("userns-hostnet")
      hostRun.config.linux.securityContext.namespaceOptions.network = .node
      hostRun.config.linux.securityContext.namespaceOptions.usernsOptions = Self.podUserns(host + 65536)
      let hostSandboxID = try await runtime.runPodSandbox(hostRun).podSandboxID
      var hostCreate = Runtime_V1_CreateContainerRequest()
      hostCreate.podSandboxID = hostSandboxID
      hostCreate.sandboxConfig = hostRun.config
      hostCreate.config = containerConfig("hostnet", image: image, "sleep 1000")
      let hostContainerID = try await runtime.createContainer(hostCreate).containerID
      start.containerID = hostContainerID
      _ = try await runtime.startContainer(start)
      exec.containerID = hostContainerID
      exec.cmd = ["/bin/sh", "-c", "cat /proc/self/uid_map; readlink /proc/self/ns/net; id -u"]
      let hostResult = try await runtime.execSync(exec)
      let hostLines = String(decoding: hostResult.stdout, as: UTF8.self).split(separator: "\n").map {
        $0.split(separator: " ").joined(separator: " ")
      }
      let hostNet = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
      #expect(hostLines == ["0 \(host + 65536) 65536", hostNet, "0"], "\(String(decoding: hostResult.stderr, as: UTF8.self))")

      for id in [sandboxID, hostSandboxID] {
        var stopPod = Runtime_V1_StopPodSandboxRequest()
        stopPod.podSandboxID = id
        _ = try await runtime.stopPodSandbox(stopPod)
        var rmPod = Runtime_V1_RemovePodSandboxRequest()
        rmPod.podSandboxID = id
        _ = try await runtime.removePodSandbox(rmPod)
      }
    }
  }

  /// critest's "should fail if container ID 0 is not mapped": a pod user namespace whose uid or gid
  /// mappings leave out container ID 0 (no root inside) is refused naming the field, and no pod is
  /// left; mapping 0 somewhere other than the first entry is fine.
  @Test func podUserNamespaceMustMapContainerRoot() async throws {
    let server = try CRITestServer(network: false)
    defer { server.stop() }
    let host = UInt32(Int.random(in: 40...4000)) * 65536
    try await server.withClients { runtime, _ in
      let field = "config.linux.security_context.namespace_options.userns_options"
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("userns-noroot")
      run.config.linux.securityContext.namespaceOptions.network = .node
      var u = Self.podUserns(host)
      u.uids = [Self.mapping(1, host, 100_000)]
      u.gids = [Self.mapping(1, host, 100_000)]
      run.config.linux.securityContext.namespaceOptions.usernsOptions = u
      await Self.expectRefused(.invalidArgument, "\(field).uids: container id 0 is not mapped") { _ = try await runtime.runPodSandbox(run) }
      u = Self.podUserns(host)
      u.gids = [Self.mapping(1000, host, 65536)]
      run.config.linux.securityContext.namespaceOptions.usernsOptions = u
      await Self.expectRefused(.invalidArgument, "\(field).gids: container id 0 is not mapped") { _ = try await runtime.runPodSandbox(run) }
      #expect(try await runtime.listPodSandbox(.init()).items.isEmpty)

      u = Self.podUserns(host)
      u.uids = [Self.mapping(1000, host + 1000, 64536), Self.mapping(0, host, 1000)]
      run.config.linux.securityContext.namespaceOptions.usernsOptions = u
      let id = try await runtime.runPodSandbox(run).podSandboxID
      var status = Runtime_V1_PodSandboxStatusRequest()
      status.podSandboxID = id
      #expect(try await runtime.podSandboxStatus(status).status.state == .sandboxReady)
    }
  }
}

/// Exec over the streaming server (what `crictl exec` uses) into a container of a user-namespaced
/// pod: with and without a terminal, the command is root of the pod's user namespace, and the inner
/// terminal belongs to it.
@Suite(.serialized, .needsRoot)
struct UserNamespaceStreamingTests {
  @Test(.timeLimit(.minutes(1))) func execIntoAUserNamespacedContainer() async throws {
    let host = UInt32(Int.random(in: 40...4000)) * 65536
    let pod = try ContainerPod(
      tag: "userns", extraPodFlags: ["--userns-uid-map", "0:\(host):65536", "--userns-gid-map", "0:\(host):65536"])
    defer { pod.tearDown() }
    try await pod.withServer { server in
      let url = try server.register(.exec(.init(
        containerID: pod.containerID, cmd: ["sh", "-c", "cat /proc/self/uid_map; id -u; readlink /proc/self/ns/user; readlink /proc/1/ns/user"],
        tty: false, stdin: false, stdout: true, stderr: true)))
      let r = try await StreamingTestClient.withSPDY(url, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: nil)
      }
      let lines = r.stdoutText.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
      #expect(lines.count == 4, "\(r.stdoutText) \(r.stderrText)")
      if lines.count == 4 {
        #expect(lines[0] == "0 \(host) 65536" && lines[1] == "0")
        #expect(lines[2] == lines[3], "the exec'd command is in the app's user namespace")
      }
      #expect(KubeStatus.parse(r.status)?.exitCode == 0)

      let ttyURL = try server.register(.exec(.init(
        containerID: pod.containerID, cmd: ["sh", "-c", "tty; stat -c %u:%g $(tty); id -u"], tty: true, stdin: true, stdout: true, stderr: false)))
      let t = try await StreamingTestClient.withWebSocket(ttyURL, protocols: ["v5.channel.k8s.io"]) { ws, _, messages in
        try await webSocketRemoteCommand(ws, messages, stdin: [], closeStdin: false)
      }
      #expect(t.stdoutText.contains("/dev/pts/0\r\n0:5\r\n0\r\n"), "\(t.stdoutText.debugDescription)")
      #expect(KubeStatus.parse(t.status)?.exitCode == 0)
    }
  }
}
