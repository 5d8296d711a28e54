// CreateContainer's request as a `liftoff app add` request: pure mapping, no server.
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
    let add = try ContainerArguments(
      request: request, sandbox: try sandbox(), containerID: "c1", imageID: "sha256:" + String(repeating: "b", count: 64),
      imageName: "busybox", imageRef: "busybox"
    ).make()
    guard case .add(_, let app) = add else { throw LiftoffError.internal("not an app add request") }
    #expect(app.env == ["PASSWORD=hunter2", "MULTI=line1\nline2", "TERM=xterm"])
    // The command line Stage0 runs is the verb and `--spec-file -`; the request (env and all) is stdin.
    #expect(add.verb == "app add")
    #expect(try Stage0Request(json: try JSON.parse(add.json.serialized())) == add)
  }

  /// An image volume becomes an image mount of the image ID CreateContainer resolved; what containerd
  /// refuses (a host path, a writable mount) is refused.
  @Test func imageVolumesBecomeImageMountsByID() throws {
    let volumeID = "sha256:" + String(repeating: "c", count: 64)
    func render(_ edit: (inout Runtime_V1_Mount) -> Void) throws -> [AppMount] {
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
      guard case .add(_, let app) = try a.make() else { throw LiftoffError.internal("not an app add request") }
      return app.mounts
    }
    let mounts = try render { _ in }
    #expect(mounts.count == 1)
    #expect(mounts[0].type == "image" && mounts[0].destination == "/data" && mounts[0].readOnly)
    #expect(mounts[0].image == AppImage(name: "registry.example/models:v1", id: volumeID, layerDirs: []))
    #expect(mounts[0].subPath == "weights/a,b")
    #expect(try render { $0.imageSubPath = "" }[0].subPath == nil)
    // Paths are JSON strings now: ',' in the container path is no longer refused.
    #expect(try render { $0.containerPath = "/a,b" }[0].destination == "/a,b")
    for (edit, fragment) in [
      ({ (m: inout Runtime_V1_Mount) in m.readonly = false }, "must be readonly"),
      ({ (m: inout Runtime_V1_Mount) in m.hostPath = "/srv" }, "host_path must be empty"),
      ({ (m: inout Runtime_V1_Mount) in m.imageSubPath = "/weights" }, "must be a relative path"),
    ] {
      #expect(throws: LiftoffError.self) { _ = try render(edit) }
      do { _ = try render(edit) } catch let e as LiftoffError { #expect(e.message.contains(fragment), "\(e)") }
    }
  }
}
