// ImageFsInfo through the real socket without walking the layers: the used bytes and inodes it reports
// for `<dir>/images` equal a full `du`-style walk after pulls (several images, shared and multi-layer),
// after a RemoveImage, and after simulated crashes — every layer record lost (a crash between a layer's
// rename and its record), a torn record, and a stale one (another directory's identity) — and the records
// are written again. A layer fetched by the `liftoff` CLI into the same store is accounted too.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffOS
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct ImageFsInfoTests {
  @Test(.needsRegistry) func usageEqualsAFullWalkAfterPullsRemovalAndCrashes() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let server = try CRITestServer(network: false)
    defer { server.stop() }
    let imagesDir = server.dir + "/images"
    let usageDir = imagesDir + "/layer-usage"
    try await server.withClients { _, images in
      func reported() async throws -> FilesystemUsage {
        let fs = try #require(try await images.imageFsInfo(.init()).imageFilesystems.first)
        return FilesystemUsage(usedBytes: fs.usedBytes.value, inodesUsed: fs.inodesUsed.value)
      }
      func expectWalk(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let got = try await reported()
        let walked = FilesystemUsage.measure(imagesDir)
        #expect(got == walked, "\(what): ImageFsInfo \(got), walk \(walked)", sourceLocation: sourceLocation)
      }
      for name in ["busybox", "layers", "web", "docker"] {
        var pull = Runtime_V1_PullImageRequest()
        pull.image.image = "\(registry)/liftoff-test/\(name):latest"
        _ = try await images.pullImage(pull)
      }
      let layers = try FileManager.default.contentsOfDirectory(atPath: imagesDir + "/layers").sorted()
      #expect(layers.count >= 4)
      // Every layer was recorded when it was published.
      #expect(try FileManager.default.contentsOfDirectory(atPath: usageDir).sorted() == layers)
      try await expectWalk("after four pulls")

      var remove = Runtime_V1_RemoveImageRequest()
      remove.image.image = "\(registry)/liftoff-test/web:latest"
      _ = try await images.removeImage(remove)
      let left = try FileManager.default.contentsOfDirectory(atPath: imagesDir + "/layers").sorted()
      #expect(left.count < layers.count)
      #expect(try FileManager.default.contentsOfDirectory(atPath: usageDir).sorted() == left, "gc drops the records with the layers")
      try await expectWalk("after a removal")

      // A crash between a layer's rename and its record: no records at all.
      try FileManager.default.removeItem(atPath: usageDir)
      try await expectWalk("with every record lost")
      #expect(try FileManager.default.contentsOfDirectory(atPath: usageDir).sorted() == left, "records written again")

      // A torn record, and a stale one (another layer's directory identity and numbers).
      try "v1 12".write(toFile: usageDir + "/" + left[0], atomically: false, encoding: .utf8)
      let other = try String(contentsOfFile: usageDir + "/" + left[1], encoding: .utf8)
      try other.write(toFile: usageDir + "/" + left[2], atomically: false, encoding: .utf8)
      try await expectWalk("with a torn and a stale record")
      #expect(try String(contentsOfFile: usageDir + "/" + left[2], encoding: .utf8) != other, "the stale record was replaced")

      // A layer published by the CLI (liftoff-image, as `liftoff fetch` runs it) into the same store.
      let fetch = try runToolStatus([
        liftoffBinDir() + "/liftoff", "--dir", server.dir, "--insecure-options", "http", "fetch",
        "docker://\(registry)/liftoff-test/web:latest",
      ])
      #expect(fetch.0 == 0, "\(fetch.2)")
      #expect(try FileManager.default.contentsOfDirectory(atPath: usageDir).sorted()
        == FileManager.default.contentsOfDirectory(atPath: imagesDir + "/layers").sorted())
      try await expectWalk("after a fetch by the CLI")
    }
  }
}
