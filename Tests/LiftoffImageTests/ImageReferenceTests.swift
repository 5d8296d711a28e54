import LiftoffCore
import Testing

@Suite struct ImageReferenceTests {
  @Test(arguments: [
    ("busybox", "docker.io/library/busybox:latest"),
    ("docker://busybox:1.36", "docker.io/library/busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest"),
    ("user/app:v1", "docker.io/user/app:v1"),
    ("index.docker.io/library/alpine", "docker.io/library/alpine:latest"),
    ("127.0.0.1:5000/liftoff-test/busybox", "127.0.0.1:5000/liftoff-test/busybox:latest"),
    ("localhost/app", "localhost/app:latest"),
    ("quay.io/a/b/c:tag-1.0", "quay.io/a/b/c:tag-1.0"),
    ("reg.example:443/x@sha256:" + String(repeating: "a", count: 64), "reg.example:443/x@sha256:" + String(repeating: "a", count: 64)),
  ])
  func normalises(_ input: String, _ want: String) throws {
    #expect(try ImageReference(parsing: input).description == want)
  }

  @Test(arguments: ["", "upper/Case", "a//b", "busybox:", "busybox@sha256:abc", "-bad", "a/b:tag with space", "a/..", "busybox@md5:00"])
  func rejects(_ input: String) {
    #expect(throws: LiftoffError.self) { try ImageReference(parsing: input) }
  }

  @Test func digests() throws {
    let h = String(repeating: "0f", count: 32)
    #expect(try Digest("sha256:" + h).encoded == h)
    #expect(throws: LiftoffError.self) { try Digest("sha256:" + h.uppercased()) }
    #expect(throws: LiftoffError.self) { try Digest("sha256:" + h.dropLast()) }
    #expect(throws: LiftoffError.self) { try Digest(h) }
  }

  @Test func platformSelection() throws {
    func d(_ arch: String, _ variant: String? = nil, _ n: Character) throws -> Descriptor {
      Descriptor(mediaType: MediaType.ociManifest, digest: try Digest("sha256:" + String(repeating: n, count: 64)), size: 1,
                 platform: Platform(architecture: arch, os: "linux", variant: variant))
    }
    let idx = ImageIndex(manifests: [try d("arm", "v6", "1"), try d("arm", "v7", "2"), try d("amd64", nil, "3"), try d("arm64", "v8", "4")])
    #expect(try idx.select(Platform(architecture: "amd64", os: "linux"), what: "t").digest.encoded.hasPrefix("3"))
    #expect(try idx.select(Platform(architecture: "arm", os: "linux", variant: "v7"), what: "t").digest.encoded.hasPrefix("2"))
    #expect(try idx.select(Platform(architecture: "arm64", os: "linux"), what: "t").digest.encoded.hasPrefix("4"))
    #expect(throws: LiftoffError.self) { try idx.select(Platform(architecture: "s390x", os: "linux"), what: "t") }
  }
}
