// ImageConfig(json:) — what `liftoff app add` reads configs with — decodes what JSONDecoder decodes.
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

  @Test(arguments: documents)
  func matchesJSONDecoder(_ text: String) throws {
    let codable = try JSONDecoder().decode(ImageConfig.self, from: Data(text.utf8))
    let ours = try ImageConfig(json: JSON.parse(text), in: "config")
    #expect(ours == codable)
  }

  @Test(arguments: [
    (#"{"os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#, "architecture"),
    (#"{"architecture":"amd64","os":"linux"}"#, "rootfs"),
    (#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}"#, "diff_ids"),
    (#"{"architecture":"amd64","os":"linux","config":{"Env":"PATH=/bin"},"rootfs":{"type":"layers","diff_ids":[]}}"#, "Env"),
    (#"{"architecture":"amd64","os":"linux","config":{"ExposedPorts":["80/tcp"]},"rootfs":{"type":"layers","diff_ids":[]}}"#, "ExposedPorts"),
    (#"{"architecture":"amd64","os":"linux","config":{"Labels":{"k":1}},"rootfs":{"type":"layers","diff_ids":[]}}"#, "Labels.k"),
  ])
  func wrongOrMissingFieldsAreNamedAndJSONDecoderRejectsThemToo(_ text: String, _ field: String) throws {
    #expect(throws: (any Error).self) { try JSONDecoder().decode(ImageConfig.self, from: Data(text.utf8)) }
    #expect { try ImageConfig(json: JSON.parse(text), in: "config") } throws: { "\($0)".contains(field) }
  }
}
