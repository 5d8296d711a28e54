// RemoveImage: removes the image `image.image` names — by ID (all its names), or by a tag or digest
// (that name; the image goes with its last tag). Removing an image that is not there succeeds (CRI
// contract). Then the store's gc frees blobs and layers that no name and no pod uses.
import GRPCCore
import LiftoffCore
import LiftoffImage

extension ImageService {
  public func removeImage(request: Runtime_V1_RemoveImageRequest, context: ServerContext) async throws -> Runtime_V1_RemoveImageResponse {
    try await handle("RemoveImage", runtime) {
      let store = try runtime.imageStore()
      let spec = request.image.image
      guard !spec.isEmpty else { throw LiftoffError.invalidArgument("image spec is empty") }
      do {
        try store.remove(spec)
      } catch let e as LiftoffError where e.code == .notFound {
        // Already gone.
      }
      // Free the blobs and layers no name and no pod uses any more, as kubelet's image GC expects.
      try store.garbageCollect(inUse: ImageStore.imagesInUse(podsDir: runtime.podsDir))
      return Runtime_V1_RemoveImageResponse()
    }
  }
}
