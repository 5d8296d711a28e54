// The generated Swift code must come from the proto in the tree: hack/generate-proto.sh records the
// proto's sha256 beside the generated files; a proto edited without regenerating fails here.
import Crypto
import Foundation
import LiftoffCRI
import Testing

struct GeneratedCodeTests {
  static let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  @Test func generatedCodeMatchesProto() throws {
    let proto = try Data(contentsOf: Self.packageRoot.appendingPathComponent("proto/runtime/v1/api.proto"))
    let recorded = try String(
      contentsOf: Self.packageRoot.appendingPathComponent("Sources/LiftoffCRI/Generated/api.proto.sha256"),
      encoding: .utf8
    ).trimmingCharacters(in: .whitespacesAndNewlines)
    let actual = SHA256.hash(data: proto).map { String(format: "%02x", $0) }.joined()
    #expect(actual == recorded, "proto/runtime/v1/api.proto changed: run hack/generate-proto.sh")
  }

  @Test func protoHasEveryCRIRPC() throws {
    let proto = try String(
      contentsOf: Self.packageRoot.appendingPathComponent("proto/runtime/v1/api.proto"), encoding: .utf8)
    let rpcs = proto.split(separator: "\n").filter { $0.trimmingCharacters(in: .whitespaces).hasPrefix("rpc ") }
    // k8s.io/cri-api v0.36.3: 35 RuntimeService + 6 ImageService RPCs.
    #expect(rpcs.count == 41)
    #expect(Runtime_V1_RuntimeService.Method.descriptors.count == 35)
    #expect(Runtime_V1_ImageService.Method.descriptors.count == 6)
  }
}
