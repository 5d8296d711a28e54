// ListImages: every image that has a name, or only the one `filter.image` names (by ID, tag or
// digest); an unknown filter gives an empty list, not an error. A filter's `runtime_handler` must be
// known and is echoed in each image's `spec` (one store serves every handler).
import GRPCCore
import LiftoffCore

extension ImageService {
  public func listImages(request: Runtime_V1_ListImagesRequest, context: ServerContext) async throws -> Runtime_V1_ListImagesResponse {
    try await handle("ListImages", runtime) {
      var response = Runtime_V1_ListImagesResponse()
      if request.hasFilter { try Self.checkRuntimeHandler(request.filter.image, field: "filter.image", config: runtime.config) }
      response.images = try Self.filtered(try runtime.imageStore(), request.hasFilter ? request.filter : nil, pinnedRefs: runtime.config.pinnedImages)
      return response
    }
  }
}
