// StreamImages: ListImages as a stream, in batches of at most 100 images per message.
import GRPCCore
import LiftoffCore

extension ImageService {
  public func streamImages(
    request: Runtime_V1_StreamImagesRequest, response: RPCWriter<Runtime_V1_StreamImagesResponse>, context: ServerContext
  ) async throws {
    let images = try await handle("StreamImages", runtime) {
      if request.hasFilter { try Self.checkRuntimeHandler(request.filter.image, field: "filter.image", config: runtime.config) }
      return try Self.filtered(try runtime.imageStore(), request.hasFilter ? request.filter : nil, pinnedRefs: runtime.config.pinnedImages)
    }
    var start = 0
    repeat {
      var batch = Runtime_V1_StreamImagesResponse()
      batch.images = Array(images[start..<min(images.count, start + 100)])
      try await response.write(batch)
      start += 100
    } while start < images.count
  }
}
