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

  /// An image volume becomes `--mount image=ID,…` with the image ID CreateContainer resolved; what
  /// containerd refuses (a host path, a writable mount) and what the flag cannot carry is refused.
  @Test func imageVolumesBecomeImageMountsByID() throws {
    let volumeID = "sha256:" + String(repeating: "c", count: 64)
    func render(_ edit: (inout Runtime_V1_Mount) -> Void) throws -> [String] {
      var request = Runtime_V1_CreateContainerRequest()
      request.config.metadata.name = "c"
      request.config.image.image = "busybox"
      var m = Runtime_V1_Mount()
      m.containerPath = "/data"
      m.image.image = "registry.example/models:v1"
      m.imageSubPath = "weights/a,b"
      m.readonly = true
      edit(&m)
      request.config.mounts = [m]
      var a = ContainerArguments(
        request: request, sandbox: try sandbox(), containerID: "c1", imageID: "sha256:" + String(repeating: "b", count: 64),
        imageName: "busybox", imageRef: "busybox")
      a.volumeImages = [0: volumeID]
      return try a.make().arguments
    }
    let arguments = try render { _ in }
    let i = try #require(arguments.firstIndex(of: "--mount"))
    #expect(arguments[i + 1] == "image=\(volumeID),target=/data,name=registry.example/models:v1,subpath=weights/a,b")
    #expect(!arguments.contains("--volume"))
    #expect(try render { $0.imageSubPath = "" }.contains("image=\(volumeID),target=/data,name=registry.example/models:v1"))
    for (edit, fragment) in [
      ({ (m: inout Runtime_V1_Mount) in m.readonly = false }, "must be readonly"),
      ({ (m: inout Runtime_V1_Mount) in m.hostPath = "/srv" }, "host_path must be empty"),
      ({ (m: inout Runtime_V1_Mount) in m.containerPath = "/a,b" }, "must not contain ','"),
      ({ (m: inout Runtime_V1_Mount) in m.imageSubPath = "/weights" }, "must be a relative path"),
    ] {
      #expect(throws: LiftoffError.self) { _ = try render(edit) }
      do { _ = try render(edit) } catch let e as LiftoffError { #expect(e.message.contains(fragment), "\(e)") }
    }
  }
}
