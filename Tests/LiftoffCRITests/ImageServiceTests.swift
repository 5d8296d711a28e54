// The CRI ImageService through a real liftoff-cri and a real gRPC client, against the test
// registry of hack/test-env.sh: PullImage (with AuthConfig), ListImages (filter), ImageStatus
// (verbose), RemoveImage (by tag, digest and ID), StreamImages.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffCore
import LiftoffTestSupport
import Testing

@Suite struct ImageServiceTests {
  @Test(.needsRegistry) func pullListStatusRemove() async throws {
    let reg = try TestEnvironment.requireRegistry()
    let server = try CRITestServer()
    defer { server.stop() }
    try await server.withClients { _, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = "\(reg)/liftoff-test/layers"
      let ref = try await images.pullImage(pull).imageRef
      #expect(ref.hasPrefix("sha256:") && ref.count == 71)

      let all = try await images.listImages(.init()).images
      #expect(all.count == 1)
      let img = try #require(all.first)
      #expect(img.id == ref)
      #expect(img.repoTags == ["\(reg)/liftoff-test/layers:latest"])
      #expect(img.repoDigests.count == 1 && img.repoDigests[0].hasPrefix("\(reg)/liftoff-test/layers@sha256:"))
      #expect(img.size > 0)
      #expect(img.uid.value == 1000)  // User "1000:50"

      var filter = Runtime_V1_ListImagesRequest()
      filter.filter.image.image = "\(reg)/liftoff-test/nope"
      #expect(try await images.listImages(filter).images.isEmpty)

      for spec in [ref, String(ref.dropFirst(7).prefix(12)), "\(reg)/liftoff-test/layers", img.repoDigests[0]] {
        var st = Runtime_V1_ImageStatusRequest()
        st.image.image = spec
        st.verbose = true
        let r = try await images.imageStatus(st)
        #expect(r.image.id == ref, "\(spec)")
        #expect(r.info["info"]?.contains("\"manifestDigest\"") == true)
      }
      var missing = Runtime_V1_ImageStatusRequest()
      missing.image.image = "\(reg)/liftoff-test/nope"
      #expect(try await images.imageStatus(missing).hasImage == false)

      let stream = try await images.streamImages(.init()) { response in
        var got: [Runtime_V1_Image] = []
        for try await batch in response.messages { got += batch.images }
        return got
      }
      #expect(stream.map(\.id) == [ref])

      var rm = Runtime_V1_RemoveImageRequest()
      rm.image.image = ref
      _ = try await images.removeImage(rm)
      #expect(try await images.listImages(.init()).images.isEmpty)
      // Removing again succeeds; the layers are freed.
      _ = try await images.removeImage(rm)
      #expect(((try? FileManager.default.contentsOfDirectory(atPath: server.dir + "/images/layers")) ?? []).isEmpty)
    }
  }

  @Test(.needsRegistry) func pullWithAuthConfigAndErrors() async throws {
    let reg = try TestEnvironment.requireRegistry()
    let server = try CRITestServer()
    defer { server.stop() }
    try await server.withClients { _, images in
      var bad = Runtime_V1_PullImageRequest()
      bad.image.image = "Not A Reference"
      do {
        _ = try await images.pullImage(bad)
        Issue.record("bad reference pulled")
      } catch let e as RPCError {
        #expect(e.code == .invalidArgument)
      }
      var missing = Runtime_V1_PullImageRequest()
      missing.image.image = "\(reg)/liftoff-test/nope:1"
      do {
        _ = try await images.pullImage(missing)
        Issue.record("missing image pulled")
      } catch let e as RPCError {
        #expect(e.code == .notFound, "\(e)")
      }
      // AuthConfig with `auth` (base64 user:password) is accepted by an anonymous registry too.
      var withAuth = Runtime_V1_PullImageRequest()
      withAuth.image.image = "\(reg)/liftoff-test/busybox"
      withAuth.auth.auth = Data("liftoff:secret".utf8).base64EncodedString()
      let ref = try await images.pullImage(withAuth).imageRef
      var st = Runtime_V1_ImageStatusRequest()
      st.image.image = "\(reg)/liftoff-test/busybox:latest"
      #expect(try await images.imageStatus(st).image.id == ref)
      // Remove by tag.
      var rm = Runtime_V1_RemoveImageRequest()
      rm.image.image = "\(reg)/liftoff-test/busybox:latest"
      _ = try await images.removeImage(rm)
      #expect(try await images.imageStatus(st).hasImage == false)
    }
  }
}
