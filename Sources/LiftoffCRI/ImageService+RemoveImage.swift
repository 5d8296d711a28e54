// RemoveImage: removes the image `image.image` names — by ID (all its names), or by a tag or digest
// (that name; the image goes with its last tag). Removing an image that is not there succeeds (CRI
// contract). Then the store's gc frees blobs and layers that no name and no pod uses.
// An image mounted as an image volume (KEP-4639) by a container that still exists is not removed:
// FAILED_PRECONDITION naming the container and the mount (as CRI-O refuses an image in use). A
// container's own image is removed as before: its layers stay while a pod uses them.
import GRPCCore
import LiftoffCore
import LiftoffImage

extension ImageService {
  public func removeImage(request: Runtime_V1_RemoveImageRequest, context: ServerContext) async throws -> Runtime_V1_RemoveImageResponse {
    try await handle("RemoveImage", runtime) {
      let store = try runtime.imageStore()
      let spec = request.image.image
      guard !spec.isEmpty else { throw LiftoffError.invalidArgument("image spec is empty") }
      if let id = try? store.resolveID(spec) {
        for c in try runtime.containers() {
          if let m = c.app.mounts.first(where: { $0.type == "image" && $0.image?.id == id }) {
            throw LiftoffError(
              .failedPrecondition,
              "image \(spec) (\(id)) is mounted as an image volume at \(m.destination) by container \(c.id) in pod sandbox \(c.sandbox.id): remove the container first")
          }
        }
      }
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
