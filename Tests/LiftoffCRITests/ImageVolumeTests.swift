// Image volumes (KEP-4639, CRI `Mount.image` and `image_sub_path`) over the real socket, with images
// pulled from the test registry into the store: the image's files at the target (a one-layer image and
// overlays of two and three layers, whiteouts honoured), read-only, noexec, nosuid and nodev as the
// kernel reports them, a sub path selecting a directory, sub paths that leave the image or are no
// directory refused at CreateContainer, an image not in the store refused naming it, ContainerStatus
// reporting the mount as asked, and RemoveImage refused while a container mounting the image exists.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct ImageVolumeTests {
  static func imageMount(_ target: String, _ image: String, subPath: String = "") -> Runtime_V1_Mount {
    var m = Runtime_V1_Mount()
    m.containerPath = target
    m.image.image = image
    m.imageSubPath = subPath
    m.readonly = true
    return m
  }

  @Test(.needsRegistry) func imageVolumesAreReadOnlyNoExecAndHeldAgainstRemoval() async throws {
    let reg = try TestEnvironment.requireRegistry()
    let busybox = "\(reg)/liftoff-test/busybox:latest"
    let web = "\(reg)/liftoff-test/web:latest"
    let layers = "\(reg)/liftoff-test/layers:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    try await server.withClients { runtime, images in
      let sandboxID = try await pullAndRunSandbox(runtime, images, image: busybox, name: "imgvol")
      var webID = ""
      for image in [web, layers] {
        var pull = Runtime_V1_PullImageRequest()
        pull.image.image = image
        let ref = try await images.pullImage(pull).imageRef
        if image == web { webID = ref }
      }
      var config = containerConfig("vol", image: busybox, "sleep 1000")
      config.mounts = [
        Self.imageMount("/vol/web", web),  // two layers: an overlay of lower dirs
        Self.imageMount("/vol/www", web, subPath: "www"),
        Self.imageMount("/vol/bin", busybox, subPath: "bin"),  // one layer: the layer itself
        Self.imageMount("/vol/a", layers, subPath: "a"),  // three layers, with whiteouts
      ]
      let id = try await createAndStart(runtime, sandboxID: sandboxID, config)

      #expect(try await execOutput(runtime, id, "cat /vol/www/index.html /vol/web/www/index.html") == "liftoff-test-web\nliftoff-test-web\n")
      #expect(try await execOutput(runtime, id, "ls /vol/a") == "keep\n")  // a/gone and a/gonedir are whited out
      #expect(try await execOutput(runtime, id, "test -x /vol/web/bin/busybox && echo executable-file") == "executable-file\n")
      // Read-only: writing, creating and removing fail with EROFS.
      let write = try await execOutput(runtime, id, "for c in 'echo x > /vol/www/index.html' 'touch /vol/web/new' 'rm /vol/a/keep' 'mkdir /vol/bin/d'; do sh -c \"$c\" 2>&1; echo rc=$?; done")
      #expect(write.components(separatedBy: "Read-only file system").count == 5, "\(write)")
      #expect(!write.contains("rc=0"), "\(write)")
      // noexec: a binary there does not run (EACCES), though the file is executable.
      let exec = try await execOutput(runtime, id, "/vol/bin/busybox true 2>&1; echo rc=$?; /vol/web/bin/busybox true 2>&1; echo rc=$?")
      #expect(exec.components(separatedBy: "Permission denied").count == 3 && exec.components(separatedBy: "rc=126").count == 3, "\(exec)")
      // The kernel's view of every volume: ro, nosuid (a setuid file there elevates nothing), nodev, noexec.
      let info = try await execOutput(runtime, id, "cat /proc/self/mountinfo")
      for target in ["/vol/web", "/vol/www", "/vol/bin", "/vol/a"] {
        let line = info.split(separator: "\n").first { $0.split(separator: " ").dropFirst(4).first.map(String.init) == target }
        let options = line.map { Set($0.split(separator: " ")[5].split(separator: ",").map(String.init)) } ?? []
        #expect(options.isSuperset(of: ["ro", "nosuid", "nodev", "noexec"]), "\(target): \(line ?? "not mounted")")
      }

      // ContainerStatus reports each image volume as it was asked for.
      var status = Runtime_V1_ContainerStatusRequest()
      status.containerID = id
      let mounts = try await runtime.containerStatus(status).status.mounts
      #expect(mounts.map(\.containerPath) == ["/vol/web", "/vol/www", "/vol/bin", "/vol/a"])
      #expect(mounts.map(\.image.image) == [web, web, busybox, layers])
      #expect(mounts.map(\.imageSubPath) == ["", "www", "bin", "a"])
      #expect(mounts.allSatisfy { $0.readonly && $0.hostPath.isEmpty })

      // RemoveImage of a mounted image fails while the container exists, by name and by ID.
      for spec in [web, webID] {
        await expectRPCError(.failedPrecondition, id) {
          var remove = Runtime_V1_RemoveImageRequest()
          remove.image.image = spec
          _ = try await images.removeImage(remove)
        }
      }
      var imageStatus = Runtime_V1_ImageStatusRequest()
      imageStatus.image.image = web
      #expect(try await images.imageStatus(imageStatus).image.id == webID)

      // Refused at CreateContainer, naming what is wrong.
      func refused(_ code: RPCError.Code, _ fragment: String, _ mount: Runtime_V1_Mount) async {
        var bad = containerConfig("bad-\(UUID().uuidString.prefix(8))", image: busybox, "true")
        bad.mounts = [mount]
        var create = Runtime_V1_CreateContainerRequest()
        create.podSandboxID = sandboxID
        create.config = bad
        await expectRPCError(code, fragment) { _ = try await runtime.createContainer(create) }
      }
      let missing = "\(reg)/liftoff-test/never-pulled:latest"
      await refused(.notFound, missing, Self.imageMount("/vol", missing))
      await refused(.invalidArgument, "leads out of the image", Self.imageMount("/vol", web, subPath: "../../.."))
      await refused(.invalidArgument, "leads out of the image", Self.imageMount("/vol", web, subPath: "www/../.."))
      await refused(.invalidArgument, "leads out of the image", Self.imageMount("/vol", layers, subPath: "c/abs"))  // -> /a/keep
      await refused(.invalidArgument, "must be a relative path", Self.imageMount("/vol", web, subPath: "/www"))
      await refused(.invalidArgument, "does not exist in the image", Self.imageMount("/vol", web, subPath: "nowhere"))
      await refused(.invalidArgument, "does not exist in the image", Self.imageMount("/vol", layers, subPath: "a/gonedir"))
      await refused(.invalidArgument, "is not a directory", Self.imageMount("/vol", web, subPath: "www/index.html"))
      var writable = Self.imageMount("/vol", web)
      writable.readonly = false
      await refused(.invalidArgument, "must be readonly", writable)
      var withHostPath = Self.imageMount("/vol", web)
      withHostPath.hostPath = "/tmp"
      await refused(.invalidArgument, "host_path must be empty", withHostPath)

      // Once the container is gone, the image can be removed.
      var stop = Runtime_V1_StopContainerRequest()
      stop.containerID = id
      _ = try await runtime.stopContainer(stop)
      var rm = Runtime_V1_RemoveContainerRequest()
      rm.containerID = id
      _ = try await runtime.removeContainer(rm)
      var remove = Runtime_V1_RemoveImageRequest()
      remove.image.image = web
      _ = try await images.removeImage(remove)
      #expect(try await images.imageStatus(imageStatus).hasImage == false)
    }
  }
}
