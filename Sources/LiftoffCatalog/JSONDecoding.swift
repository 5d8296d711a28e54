// Foundation's JSONDecoder for documents from outside (registry manifests, indexes and configs, OCI
// layouts, trust records), with the one guard it needs: Swift 6.3's JSONDecoder traps instead of
// throwing on a document that reaches its 512-level nesting limit on its last byte (513 `[`, found by
// hack/fuzz.sh), which would take down liftoff-cri with one manifest from a registry.
import Foundation
import LiftoffCore

/// `JSONDecoder().decode(type, from: data)`, refusing a document nested deeper than `JSON.maxDepth`.
public func decodeJSON<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
  if data.withUnsafeBytes({ JSON.nestsTooDeep($0) }) {
    throw LiftoffError.invalidArgument("json nested deeper than \(JSON.maxDepth) levels")
  }
  return try JSONDecoder().decode(type, from: data)
}
