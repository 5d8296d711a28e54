// CreateContainer's request as `liftoff app add` arguments: pure mapping, no server.
import Foundation
import LiftoffCore
import LiftoffPod
import Testing

@testable import LiftoffCRI

@Suite struct ContainerArgumentsTests {
  func sandbox() throws -> CRISandbox {
    let manifest = PodManifest(
      id: String(repeating: "a", count: 64), createdAt: "", hostname: "h", network: PodNetwork(mode: .none), mutable: true, apps: [])
    let status = try JSONDecoder().decode(PodStatus.self, from: Data(#"{"state":"running","id":"\#(manifest.id)","apps":[]}"#.utf8))
    return CRISandbox(id: manifest.id, place: .run, manifest: manifest, status: status)
  }

  // Every local user reads /proc/PID/cmdline: a container's environment (its secrets) goes to
  // `liftoff app add` on standard input, never as arguments.
  @Test func theEnvironmentGoesOnStandardInputNotTheCommandLine() throws {
    var request = Runtime_V1_CreateContainerRequest()
    request.config.metadata.name = "c"
    request.config.image.image = "busybox"
    request.config.tty = true
    for (k, v) in [("PASSWORD", "hunter2"), ("MULTI", "line1\nline2")] {
      var kv = Runtime_V1_KeyValue()
      kv.key = k
      kv.value = Data(v.utf8)
      request.config.envs.append(kv)
    }
    let (arguments, stdin) = try ContainerArguments(
      request: request, sandbox: try sandbox(), containerID: "c1", imageID: "sha256:" + String(repeating: "b", count: 64),
      imageName: "busybox", imageRef: "busybox"
    ).make()
    #expect(!arguments.joined(separator: " ").contains("hunter2"), "\(arguments)")
    #expect(!arguments.contains("--set-env"))
    #expect(arguments.contains("--set-env-file") && arguments[arguments.firstIndex(of: "--set-env-file")! + 1] == "-")
    #expect(String(decoding: stdin, as: UTF8.self) == "PASSWORD=hunter2\0MULTI=line1\nline2\0TERM=xterm\0")
  }
}
