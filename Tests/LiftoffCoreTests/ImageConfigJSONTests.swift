// ImageConfig(json:) — the one reader of image configs — reads every field, leniently where the
// spec is optional, and what ImageConfig.json writes reads back the same.
import Foundation
import LiftoffCore
import Testing

struct ImageConfigJSONTests {
  static let documents = [
    #"""
    {"created":"2026-01-02T03:04:05Z","author":"me","architecture":"amd64","os":"linux","variant":"v3",
     "config":{"User":"1000:50","ExposedPorts":{"80/tcp":{},"53/udp":{"x":1}},"Env":["PATH=/bin","A=b=c"],
      "Entrypoint":["/bin/sh","-c"],"Cmd":["echo \"hi\" é"],"Volumes":{"/data":{}},"WorkingDir":"/w",
      "Labels":{"k":"v","empty":""},"StopSignal":"SIGQUIT","Healthcheck":{"Test":["NONE"]}},
     "rootfs":{"type":"layers","diff_ids":["sha256:aa","sha256:bb"]},"history":[{"created_by":"x"}]}
    """#,
    #"{"architecture":"arm64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    #"{"architecture":"amd64","os":"linux","config":null,"rootfs":{"type":"layers","diff_ids":["sha256:aa"]}}"#,
    #"{"architecture":"amd64","os":"linux","config":{"Env":null,"Cmd":[],"Labels":{},"User":""},"rootfs":{"type":"layers","diff_ids":[]}}"#,
    #"{"architecture":"amd64","os":"linux","config":{"ExposedPorts":{"80/tcp":true,"81/tcp":null}},"rootfs":{"type":"layers","diff_ids":[]}}"#,
  ]

  @Test func everyFieldIsRead() throws {
    let c = try ImageConfig(json: JSON.parse(Self.documents[0]), in: "config")
    let expected = ImageConfig(
      created: "2026-01-02T03:04:05Z", author: "me", architecture: "amd64", os: "linux", variant: "v3",
      config: ImageRuntimeConfig(
        user: "1000:50", exposedPorts: ["80/tcp": EmptyObject(), "53/udp": EmptyObject()], env: ["PATH=/bin", "A=b=c"],
        entrypoint: ["/bin/sh", "-c"], cmd: ["echo \"hi\" é"], volumes: ["/data": EmptyObject()], workingDir: "/w",
        labels: ["k": "v", "empty": ""], stopSignal: "SIGQUIT"),
      rootfs: RootFS(type: "layers", diffIDs: ["sha256:aa", "sha256:bb"]))
    #expect(c == expected)
    // Null and absent optional fields are nil; empty ones stay empty.
    let sparse = try ImageConfig(json: JSON.parse(Self.documents[3]), in: "config")
    #expect(sparse.config == ImageRuntimeConfig(user: "", env: nil, cmd: [], labels: [:]))
    #expect(try ImageConfig(json: JSON.parse(Self.documents[2]), in: "config").config == nil)
  }

  @Test(arguments: documents)
  func whatIsWrittenReadsBackTheSame(_ text: String) throws {
    let ours = try ImageConfig(json: JSON.parse(text), in: "config")
    let written = ours.json.serialized()
    #expect(try ImageConfig(json: JSON.parse(written), in: "config") == ours)
    // Members sorted, as JSONEncoder's .sortedKeys wrote configs converted from ACIs before.
    let keys = try JSON.parse(written).objectValue?.map(\.0) ?? []
    #expect(keys == keys.sorted())
  }

  @Test(arguments: [
    (#"{"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#, "architecture"),
    (#"{"architecture":"amd64","os":"linux"}"#, "rootfs"),
    (#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#, "diff_ids"),
    (#"{"architecture":"amd64","os":"linux","config":{"Env":"PATH=/bin"},"rootfs":{"type":"layers","diff_ids":[]}}"#, "Env"),
    (#"{"architecture":"amd64","os":"linux","config":{"ExposedPorts":["80/tcp"]},"rootfs":{"type":"layers","diff_ids":[]}}"#, "ExposedPorts"),
    (#"{"architecture":"amd64","os":"linux","config":{"Labels":{"k":1}},"rootfs":{"type":"layers","diff_ids":[]}}"#, "Labels.k"),
  ])
  func wrongOrMissingFieldsAreNamed(_ text: String, _ field: String) throws {
    #expect { try ImageConfig(json: JSON.parse(text), in: "config") } throws: { "\($0)".contains(field) }
  }
}
