// pinned-images through a real liftoff-cri and a real gRPC client: ImageStatus, ListImages and
// StreamImages report `pinned` for the images the setting names — by tag (flag), by digest reference
// and by image ID (config file) — and for no other; a name not in the store pins nothing and is no error.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffCore
import LiftoffTestSupport
import Testing

@Suite struct PinnedImagesTests {
  /// Every image's `pinned` by ID, checked to agree across ListImages (whole and filtered), StreamImages
  /// and ImageStatus.
  static func pinned(_ images: ImageClient) async throws -> [String: Bool] {
    var byID: [String: Bool] = [:]
    for img in try await images.listImages(.init()).images { byID[img.id] = img.pinned }
    let streamed = try await images.streamImages(.init()) { response in
      var got: [Runtime_V1_Image] = []
      for try await batch in response.messages { got += batch.images }
      return got
    }
    for img in streamed { #expect(byID[img.id] == img.pinned, "StreamImages agrees with ListImages on \(img.id)") }
    for id in byID.keys {
      var st = Runtime_V1_ImageStatusRequest()
      st.image.image = id
      #expect(try await images.imageStatus(st).image.pinned == byID[id], "ImageStatus agrees with ListImages on \(id)")
      var filter = Runtime_V1_ListImagesRequest()
      filter.filter.image.image = id
      #expect(try await images.listImages(filter).images.map(\.pinned) == [byID[id]!])
    }
    return byID
  }

  @Test(.needsRegistry) func pinnedByTagDigestAndID() async throws {
    let reg = try TestEnvironment.requireRegistry()
    let layers = "\(reg)/liftoff-test/layers"
    let busybox = "\(reg)/liftoff-test/busybox"
    // A flag names the image by its short tagless form (normalised to :latest).
    let server = try CRITestServer(extraArguments: ["--pinned-images", layers, "--pinned-images", "\(reg)/liftoff-test/nope:1"], network: false)
    defer { server.stop() }

    let (layersID, busyboxID, busyboxDigestRef) = try await server.withClients { _, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = layers
      let layersID = try await images.pullImage(pull).imageRef
      pull.image.image = busybox
      let busyboxID = try await images.pullImage(pull).imageRef
      let got = try await Self.pinned(images)
      #expect(got == [layersID: true, busyboxID: false])
      var st = Runtime_V1_ImageStatusRequest()
      st.image.image = busybox
      let digestRef = try #require(try await images.imageStatus(st).image.repoDigests.first)
      return (layersID, busyboxID, digestRef)
    }

    // Config file: busybox by digest reference; then layers by ID. No flag: the file's list counts.
    let config = server.root + "/cri.toml"
    try "pinned-images = [\"\(busyboxDigestRef)\"]\n".write(toFile: config, atomically: true, encoding: .utf8)
    server.kill(SIGTERM)
    server.extraArguments = ["--config", config]
    try server.start()
    try await server.withClients { _, images in
      let got = try await Self.pinned(images)
      #expect(got == [layersID: false, busyboxID: true])
    }

    try "pinned-images = [\"\(layersID)\", \"\(busyboxDigestRef)\"]\n".write(toFile: config, atomically: true, encoding: .utf8)
    server.kill(SIGTERM)
    try server.start()
    try await server.withClients { _, images in
      let got = try await Self.pinned(images)
      #expect(got == [layersID: true, busyboxID: true])
    }

    // A flag replaces the file's list.
    server.kill(SIGTERM)
    server.extraArguments = ["--config", config, "--pinned-images", "\(reg)/liftoff-test/nope"]
    try server.start()
    try await server.withClients { _, images in
      let got = try await Self.pinned(images)
      #expect(got == [layersID: false, busyboxID: false])
    }
  }

  /// A setting that is neither a reference nor an ID stops liftoff-cri at start, naming it.
  @Test func badPinnedImageRefusedAtStart() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-pin-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let p = try CRITestServer.launch(
      arguments: ["--socket", root + "/cri.sock", "--dir", root + "/state", "--pinned-images", "Not A Reference"],
      log: root + "/log")
    p.waitUntilExit()
    #expect(p.terminationStatus != 0)
    let log = (try? String(contentsOfFile: root + "/log", encoding: .utf8)) ?? ""
    #expect(log.contains("pinned-images: \"Not A Reference\" is neither an image reference nor an image ID"), "\(log)")
  }
}
