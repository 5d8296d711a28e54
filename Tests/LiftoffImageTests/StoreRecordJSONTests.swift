// The store's records are written (ImageStore) and read (ImageCatalog, on liftoff's hot path) with
// LiftoffCore's JSON: both directions agree, records written by earlier builds' JSONEncoder still
// read, and a damaged record is named.
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffImage
import Testing

struct StoreRecordJSONTests {
  @Test func recordsReadBackEqual() throws {
    let records = [
      ImageRecord(
        id: "sha256:" + String(repeating: "a", count: 64), manifestDigest: "sha256:" + String(repeating: "b", count: 64),
        indexDigest: nil, chainIDs: ["sha256:cc"], layerDigests: ["sha256:dd"], size: 123_456_789_012,
        source: "docker://127.0.0.1:5000/x:y", createdAt: "2026-11-30T01:02:03Z"),
      ImageRecord(
        id: "sha256:1", manifestDigest: "sha256:2", indexDigest: "sha256:3", chainIDs: [], layerDigests: [], size: 0,
        source: "oci-layout:/tmp/é \"q\"", createdAt: ""),
    ]
    for r in records {
      #expect(try ImageRecord(json: JSON.parse(r.json.serialized()), in: "r") == r)
    }
    let n = NameRecord(name: "127.0.0.1:5000/a/b:c", id: "sha256:1", manifestDigest: "sha256:2")
    #expect(try NameRecord(json: JSON.parse(n.json.serialized()), in: "n") == n)
  }

  /// What JSONEncoder (.sortedKeys, slashes escaped) wrote before this build: stores keep their records.
  @Test func recordsOfEarlierBuildsRead() throws {
    let image = #"{"chainIDs":["sha256:cc"],"createdAt":"2026-11-30T01:02:03Z","id":"sha256:1","layerDigests":["sha256:dd"],"manifestDigest":"sha256:2","size":123456789012,"source":"docker:\/\/127.0.0.1:5000\/x:y"}"#
    let r = try ImageRecord(json: JSON.parse(image), in: "r")
    #expect(r.source == "docker://127.0.0.1:5000/x:y" && r.indexDigest == nil && r.size == 123_456_789_012)
    // The same members in the same order as this build writes them.
    #expect(try JSON.parse(image).objectValue?.map(\.0) == r.json.objectValue?.map(\.0))
    let name = #"{"id":"sha256:1","manifestDigest":"sha256:2","name":"127.0.0.1:5000\/a\/b:c"}"#
    #expect(try NameRecord(json: JSON.parse(name), in: "n") == NameRecord(name: "127.0.0.1:5000/a/b:c", id: "sha256:1", manifestDigest: "sha256:2"))
  }

  @Test func damagedRecordsNameTheField() {
    #expect { try ImageRecord(json: JSON.parse(#"{"id":"sha256:1","manifestDigest":"m","chainIDs":[],"layerDigests":[],"source":"s","createdAt":"c"}"#), in: "r") } throws: {
      "\($0)".contains("size")
    }
    #expect { try NameRecord(json: JSON.parse(#"{"name":"n","id":1,"manifestDigest":"m"}"#), in: "n") } throws: { "\($0)".contains("id") }
  }

  /// Swift 6.3's JSONDecoder traps on 513 `[` (the nesting limit reached on the last byte; found by
  /// hack/fuzz.sh): decodeJSON, which reads every manifest, index and config, refuses it with an error.
  @Test func decodeJSONRefusesDeepNestingInsteadOfTrapping() throws {
    let bomb = Data(String(repeating: "[", count: 513).utf8)
    #expect(throws: LiftoffError.self) { try decodeJSON(ImageManifest.self, from: bomb) }
    #expect(throws: LiftoffError.self) { try decodeJSON(ImageIndex.self, from: Data(("{\"manifests\":" + String(repeating: "[", count: 512)).utf8)) }
    let manifest = try decodeJSON(ImageManifest.self, from: Data(#"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:\#(String(repeating: "0", count: 64))","size":1},"layers":[]}"#.utf8))
    #expect(manifest.layers.isEmpty)
  }
}
