// An image volume in the pod manifest (`type: image`): written and read back, and refused when it
// could not be mounted as one.
import LiftoffCore
import Testing

@Suite struct ImageMountTests {
  func manifest(_ mount: AppMount) -> PodManifest {
    let app = AppManifest(
      name: "a", image: AppImage(name: "i", id: "", layerDirs: ["/l"]), exec: ["/bin/true"], env: [], capabilities: [],
      mounts: [mount])
    return PodManifest(id: String(repeating: "b", count: 64), createdAt: "", hostname: "h", network: PodNetwork(mode: .host), apps: [app])
  }

  @Test func imageMountsRoundTripAndAreChecked() throws {
    let id = "sha256:" + String(repeating: "c", count: 64)
    var mount = AppMount(destination: "/data", type: "image", source: id, readOnly: true)
    mount.image = AppImage(name: "registry.example/models:v1", id: id, layerDirs: ["/layers/1", "/layers/2"])
    mount.subPath = "weights"
    let m = manifest(mount)
    let text = m.json.serialized()
    #expect(text.contains(id))  // what image gc looks for to keep the image
    #expect(try PodManifest.parse(text) == m)

    var writable = mount
    writable.readOnly = false
    var absolute = mount
    absolute.subPath = "/weights"
    var noLayers = mount
    noLayers.image?.layerDirs = []
    var bindWithImage = AppMount(destination: "/d", source: "/h")
    bindWithImage.subPath = "x"
    for bad in [writable, absolute, noLayers, bindWithImage] {
      #expect(bad.problem != nil)
      #expect(throws: LiftoffError.self) { try PodManifest.parse(manifest(bad).json.serialized()) }
    }
  }
}

/// A bind mount's nosuid/nodev/noexec flags (CDI mount options) in the pod manifest.
@Suite struct MountFlagsTests {
  @Test func flagsRoundTripAndUnknownOnesAreRefused() throws {
    var mount = AppMount(destination: "/opt/lib", source: "/usr/lib/x", readOnly: true)
    mount.flags = ["nosuid", "nodev"]
    let m = ImageMountTests().manifest(mount)
    let text = m.json.serialized()
    #expect(text.contains(#""flags":["nosuid","nodev"]"#), "\(text)")
    #expect(try PodManifest.parse(text) == m)
    #expect(!ImageMountTests().manifest(AppMount(destination: "/d", source: "/h")).json.serialized().contains("flags"))
    mount.flags = ["suid"]
    #expect { try PodManifest.parse(ImageMountTests().manifest(mount).json.serialized()) } throws: { "\($0)".contains("unknown flag suid") }
  }
}
