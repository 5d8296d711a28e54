// ImageStatus: the image `image.image` names (ID, tag or digest), or no image (and no error) when it
// is not present — kubelet pulls then. With `verbose`, `info["info"]` is a JSON document with the
// image's config, manifest digest, layers and source. A `runtime_handler` must be known (one store
// serves every handler) and is echoed in the answer's `spec` (ImageService+Store.swift).
import Foundation
import GRPCCore
import LiftoffCore
import LiftoffImage

extension ImageService {
  public func imageStatus(request: Runtime_V1_ImageStatusRequest, context: ServerContext) async throws -> Runtime_V1_ImageStatusResponse {
    try await handle("ImageStatus", runtime) {
      try Self.checkRuntimeHandler(request.image, field: "image", config: runtime.config)
      let store = try runtime.imageStore()
      var response = Runtime_V1_ImageStatusResponse()
      guard let (summary, config) = try Self.find(store, request.image.image) else { return response }
      response.image = Self.criImage(
        summary, config: config, pinned: Self.pinnedIDs(store, runtime.config.pinnedImages), runtimeHandler: request.image.runtimeHandler)
      if request.verbose {
        struct Info: Encodable {
          var id: String, manifestDigest: String, source: String, layers: [String], config: JSON
        }
        let rec = try store.record(id: summary.id)
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try e.encode(Info(id: rec.id, manifestDigest: summary.manifestDigest, source: rec.source, layers: rec.chainIDs, config: config.json))
        response.info = ["info": String(decoding: data, as: UTF8.self)]
      }
      return response
    }
  }
}
