// PullImage: pulls `image.image` (a tag, a digest reference or a short name, normalised as Docker
// does: `busybox` is docker.io/library/busybox:latest) with the request's AuthConfig, and answers
// the image ID (the config digest) as `image_ref`. Pulls of the same image at once share one
// download (the store's locks). Errors: INVALID_ARGUMENT for a bad reference, NOT_FOUND for an image
// the registry does not have, PERMISSION_DENIED for refused credentials, UNAVAILABLE otherwise.
// `image.runtime_handler` (KEP-4216) must name a known handler (INVALID_ARGUMENT otherwise); every
// handler shares the one image store, so the pull is the same for all (PullImageResponse has no spec).
import GRPCCore
import LiftoffCore
import LiftoffImage

extension ImageService {
  public func pullImage(request: Runtime_V1_PullImageRequest, context: ServerContext) async throws -> Runtime_V1_PullImageResponse {
    try await handle("PullImage", runtime) {
      try Self.checkRuntimeHandler(request.image, field: "image", config: runtime.config)
      let store = try runtime.imageStore()
      let creds = try Self.credentials(request.hasAuth ? request.auth : nil)
      let progress = PullProgress()
      let began = ContinuousClock.now
      let img: ResolvedImage
      do {
        img = try await Self.withProgressTimeout(runtime.config.pullProgressTimeout, progress: progress, image: request.image.image) {
          try await store.pull(request.image.image, credentials: creds, progress: progress)
        }
      } catch {
        runtime.prometheus.observePull(bytes: progress.done, duration: ContinuousClock.now - began, failure: rpcError(error).code)
        throw error
      }
      runtime.prometheus.observePull(bytes: progress.done, duration: ContinuousClock.now - began, failure: nil)
      var response = Runtime_V1_PullImageResponse()
      response.imageRef = img.id
      return response
    }
  }

  static func credentials(_ a: Runtime_V1_AuthConfig?) throws -> RegistryCredentials? {
    guard let a else { return nil }
    var c = RegistryCredentials()
    if !a.auth.isEmpty { c = try RegistryCredentials(auth: a.auth) }
    if !a.username.isEmpty { c.username = a.username }
    if !a.password.isEmpty { c.password = a.password }
    if !a.identityToken.isEmpty { c.identityToken = a.identityToken }
    if !a.registryToken.isEmpty { c.registryToken = a.registryToken }
    guard c != RegistryCredentials() else { return nil }
    // Only for the registry kubelet looked them up for (containerd's ParseAuth does the same).
    if !a.serverAddress.isEmpty { c.serverAddress = a.serverAddress }
    return c
  }
}
