// ACI, oci-layout, oci-archive and docker-archive import; ACI and oci-archive export; round trips.
import Foundation
import LiftoffCore
import LiftoffTestSupport
import Testing

@testable import LiftoffImage

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct ImportExportTests {
  func store(_ t: TempDir) throws -> ImageStore {
    try ImageStore(root: t.path + "/images", hosts: RegistryHosts(configDir: nil), platform: Platform(architecture: "amd64", os: "linux"))
  }

  func rendered(_ s: ImageStore, _ id: String, _ t: TempDir, _ name: String) throws -> [String: String] {
    let dir = t.path + "/" + name
    try s.extract(id, to: dir, rootfsOnly: true)
    return snapshot(dir)
  }

  static let aciManifest = """
    {"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/hello",
     "labels":[{"name":"version","value":"1.2"},{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],
     "app":{"exec":["/bin/hello","--greet"],"user":"1000","group":"50","workingDirectory":"/srv",
            "environment":[{"name":"GREETING","value":"hi there"}],
            "ports":[{"name":"http","protocol":"tcp","port":8080}]},
     "annotations":[{"name":"authors","value":"liftoff"}]}
    """

  @Test func importsAnACIRunReady() async throws {
    let t = TempDir("aci")
    defer { t.cleanup() }
    let aci = t.path + "/hello.aci"
    try TarWriter.write([
      .file("manifest", ImportExportTests.aciManifest),
      .dir("rootfs", mode: 0o755),
      .dir("rootfs/bin"),
      .file("rootfs/bin/hello", "#!/bin/sh\necho hello\n", mode: 0o755),
      .hardlink("rootfs/bin/hello2", to: "rootfs/bin/hello"),
      .symlink("rootfs/bin/sh", to: "hello"),
      .dir("rootfs/srv", mode: 0o750, uid: 1000, gid: 50),
      .file("outside-rootfs", "ignored"),
    ], to: aci)
    let s = try store(t)
    let img = try await s.importACI(aci)
    #expect(img.names == ["example.com/hello:1.2"])
    let c = try #require(img.config.config)
    #expect(c.entrypoint == ["/bin/hello", "--greet"])
    #expect(c.user == "1000:50")
    #expect(c.env == ["GREETING=hi there"])
    #expect(c.workingDir == "/srv")
    #expect(c.exposedPorts == ["8080/tcp": EmptyObject()])
    #expect(c.labels == ["authors": "liftoff"])
    #expect(img.config.os == "linux" && img.config.architecture == "amd64")
    let tree = snapshot(img.layerDirs[0])
    #expect(tree["bin/hello"] == "file mode=755 uid=0 gid=0 nlink=2 content=#!/bin/sh\necho hello\n")
    #expect(tree["bin/sh"] == "symlink -> hello")
    #expect(tree["srv"] == "dir mode=750 uid=1000 gid=50")
    #expect(tree["outside-rootfs"] == nil && tree["manifest"] == nil)
  }

  @Test func hostileACIIsRefused() async throws {
    let t = TempDir("aci")
    defer { t.cleanup() }
    let outside = t.sub("outside")
    let aci = t.path + "/evil.aci"
    try TarWriter.write([
      .file("manifest", ImportExportTests.aciManifest),
      .symlink("rootfs/x", to: "../outside"),
      .file("rootfs/x/pwned", "x"),
    ], to: aci)
    let s = try store(t)
    await #expect(throws: LiftoffError.self) { try await s.importACI(aci) }
    #expect(FileSystem.list(outside).isEmpty)
    #expect(s.list().isEmpty)
  }

  /// Any image exports to an ACI that imports back to the same tree (and config essentials).
  @Test(.needsRegistry) func aciRoundTrip() async throws {
    let reg = try TestRegistry.load()
    let t = TempDir("aci")
    defer { t.cleanup() }
    let s = try store(t)
    for repo in ["layers", "web"] {
      let img = try await s.pull("\(reg.plain)/liftoff-test/\(repo)")
      let file = "\(t.path)/\(repo).aci"
      try s.exportACI(img.id, to: file)
      let back = try await s.importACI(file)
      #expect(back.id != img.id)
      #expect(back.layerDirs.count == 1)
      #expect(try rendered(s, back.id, t, "\(repo)-back") == rendered(s, img.id, t, "\(repo)-orig"))
      #expect(back.config.config?.workingDir == img.config.config?.workingDir)
      #expect(back.config.config?.env == img.config.config?.env)
      #expect(back.config.config?.entrypoint == (img.config.config?.entrypoint ?? []) + (img.config.config?.cmd ?? []))
      #expect(back.config.config?.exposedPorts == img.config.config?.exposedPorts)
    }
  }

  @Test(.needsRegistry) func ociArchiveRoundTrip() async throws {
    let reg = try TestRegistry.load()
    let t = TempDir("oci")
    defer { t.cleanup() }
    let s = try store(t)
    let img = try await s.pull("\(reg.plain)/liftoff-test/layers")
    let file = t.path + "/layers.tar"
    try s.exportOCIArchive(img.id, to: file)
    let t2 = TempDir("oci")
    defer { t2.cleanup() }
    let s2 = try store(t2)
    let back = try await s2.importOCIArchive(file)
    #expect(back.id == img.id)
    #expect(back.names == ["\(reg.plain)/liftoff-test/layers:latest"])
    #expect(try rendered(s2, back.id, t2, "back") == rendered(s, img.id, t, "orig"))
  }

  @Test(.needsRegistry) func importsOCILayoutsFromTheTestImages() async throws {
    let reg = try TestRegistry.load()
    _ = reg
    let images = TestEnvironment.images
    let t = TempDir("oci")
    defer { t.cleanup() }
    let s = try store(t)
    let bb = try await s.importOCILayout(images + "/busybox", tag: "latest")
    #expect(bb.names == ["localhost/busybox:latest"])
    #expect(FileSystem.exists(bb.layerDirs[0] + "/bin/busybox"))
    let multi = try await s.importOCILayout(images + "/multiarch", tag: nil)
    #expect(try String(contentsOfFile: multi.layerDirs[0] + "/platform", encoding: .utf8) == "linux/amd64\n")
    await #expect(throws: LiftoffError.self) { try await s.importOCILayout(images + "/busybox", tag: "nope") }
  }

  @Test func importsADockerArchive() async throws {
    let t = TempDir("docker")
    defer { t.cleanup() }
    // A `docker save` archive: manifest.json, config, one uncompressed layer tar.
    let work = t.sub("work")
    try TarWriter.write([.dir("etc"), .file("etc/hostname", "docker-archive\n")], to: work + "/layer.tar", compression: .none)
    let layer = try Data(contentsOf: URL(fileURLWithPath: work + "/layer.tar"))
    let diff = ContentStore.sha256(layer)
    let config = #"{"architecture":"amd64","os":"linux","config":{"Cmd":["cat","/etc/hostname"]},"rootfs":{"type":"layers","diff_ids":["\#(diff)"]}}"#
    let cfgName = ContentStore.sha256(Data(config.utf8)).encoded + ".json"
    try TarWriter.write([
      .file("manifest.json", #"[{"Config":"\#(cfgName)","RepoTags":["example/app:v1"],"Layers":["abc/layer.tar"]}]"#),
      .file(cfgName, config),
      .dir("abc"),
      .file("abc/layer.tar", String(decoding: layer, as: UTF8.self)),
    ], to: t.path + "/app.tar", compression: .none)
    let s = try store(t)
    let img = try await s.importDockerArchive(t.path + "/app.tar")
    #expect(img.names == ["docker.io/example/app:v1"])
    #expect(img.config.config?.cmd == ["cat", "/etc/hostname"])
    #expect(try String(contentsOfFile: img.layerDirs[0] + "/etc/hostname", encoding: .utf8) == "docker-archive\n")

    // A manifest.json pointing outside the archive is refused.
    try TarWriter.write([
      .file("manifest.json", #"[{"Config":"../../../etc/passwd","RepoTags":["x/y:z"],"Layers":[]}]"#),
    ], to: t.path + "/evil.tar", compression: .none)
    await #expect(throws: LiftoffError.self) { try await s.importDockerArchive(t.path + "/evil.tar") }
    try TarWriter.write([
      .symlink("cfg.json", to: "/etc/passwd"),
      .file("manifest.json", #"[{"Config":"cfg.json","RepoTags":["x/y:z"],"Layers":[]}]"#),
    ], to: t.path + "/evil2.tar", compression: .none)
    await #expect(throws: LiftoffError.self) { try await s.importDockerArchive(t.path + "/evil2.tar") }
  }
}
