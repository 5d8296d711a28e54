// Local image sources for `liftoff fetch`: oci-layout:, oci-archive:, docker-archive:, *.aci.
import Foundation
import LiftoffCore
import LiftoffImage

enum ImageImport {
  /// Imports `source` when it names a local format; nil for a registry reference.
  static func importIfLocal(_ store: ImageStore, _ source: String) async throws -> ResolvedImage? {
    if source.hasPrefix("oci-layout:") {
      var rest = String(source.dropFirst("oci-layout:".count))
      var tag: String?
      if let c = rest.lastIndex(of: ":"), !rest[rest.index(after: c)...].contains("/") {
        tag = String(rest[rest.index(after: c)...])
        rest = String(rest[..<c])
      }
      return try await store.importOCILayout(rest, tag: tag)
    }
    if source.hasPrefix("oci-archive:") {
      return try await store.importOCIArchive(String(source.dropFirst("oci-archive:".count)))
    }
    if source.hasPrefix("docker-archive:") {
      return try await store.importDockerArchive(String(source.dropFirst("docker-archive:".count)))
    }
    if source.hasSuffix(".aci") || source.hasPrefix("aci:") {
      let path = source.hasPrefix("aci:") ? String(source.dropFirst(4)) : source
      return try await store.importACI(path)
    }
    return nil
  }
}
