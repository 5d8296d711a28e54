// The liftoff-cri → liftoff boundary over the real socket (issue 17): a not-found raised inside
// `liftoff` reaches the client as NOT_FOUND (it was INTERNAL while Stage0 read exit codes), and paths
// that the flag syntax refused (':' in a bind mount's paths, ',' in masked paths) now reach the
// container as they are.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct Stage0BoundaryTests {
  /// A device whose host node does not exist: `liftoff app add` raises NOT_FOUND ("does not exist on
  /// the host"), and CreateContainer answers NOT_FOUND with liftoff's message.
  @Test(.needsRegistry) func aNotFoundInsideLiftoffIsNotFoundForTheClient() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    try await server.withClients { runtime, images in
      let sandboxID = try await pullAndRunSandbox(runtime, images, image: image, name: "notfound")
      var create = Runtime_V1_CreateContainerRequest()
      create.podSandboxID = sandboxID
      create.config = containerConfig("nodevice", image: image, "sleep 300")
      var d = Runtime_V1_Device()
      d.hostPath = "/dev/liftoff-no-such-device-\(getpid())"
      d.containerPath = "/dev/x"
      d.permissions = "rw"
      create.config.devices = [d]
      await expectRPCError(.notFound, "does not exist on the host") { _ = try await runtime.createContainer(create) }
      // liftoff's own checks keep their code too: an empty annotation key is INVALID_ARGUMENT naming it.
      create.config.devices = []
      create.config.annotations[""] = "x"
      await expectRPCError(.invalidArgument, "app.annotations: empty key") { _ = try await runtime.createContainer(create) }
    }
  }

  /// A host path holding ':' (and a masked path holding ',') is mounted as it is.
  @Test(.needsRegistry) func hostPathsWithColonsAreBindMounted() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    let vol = server.root + "/vol:with,colon"
    try FileManager.default.createDirectory(atPath: vol, withIntermediateDirectories: true)
    try Data("from the host\n".utf8).write(to: URL(fileURLWithPath: vol + "/file"))
    try await server.withClients { runtime, images in
      let sandboxID = try await pullAndRunSandbox(runtime, images, image: image, name: "colon")
      var config = containerConfig("colon", image: image, "sleep 300")
      var m = Runtime_V1_Mount()
      m.hostPath = vol
      m.containerPath = "/data:x"
      m.readonly = true
      config.mounts = [m]
      config.linux.securityContext.maskedPaths = ["/proc/kcore", "/tmp/a,b"]
      let id = try await createAndStart(runtime, sandboxID: sandboxID, config)
      let out = try await execOutput(runtime, id, "cat '/data:x/file'; touch '/data:x/new' 2>/dev/null; echo rw=$?")
      #expect(out == "from the host\nrw=1\n", "\(out)")
    }
  }
}
