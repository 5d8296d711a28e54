// CreateContainer: adds an app (state created) to the sandbox's pod with `liftoff app add`; the app's
// name is the new container's ID. The image must be in the store already (kubelet pulls first): it is
// resolved here, so `image_ref` and `image_id` agree with ImageService, and the app is added by image
// ID, so a tag moved meanwhile cannot change what runs.
// Contract: the sandbox must exist (NOT_FOUND) and be ready (FAILED_PRECONDITION); metadata.name and
// image are required; (name, attempt) is unique in the sandbox (ALREADY_EXISTS naming the holder); an
// image the trust policy does not accept now is FAILED_PRECONDITION naming the rule (CRIRuntime+Trust.swift).
// Image volumes (`mounts[].image`) must be in the store too (NOT_FOUND naming the image, as containerd
// fails to resolve it), pass the trust policy, and are added by ID as well. CDI devices: an invalid or
// unresolvable name is INVALID_ARGUMENT naming it; an edit Liftoff cannot apply (intelRdt) UNIMPLEMENTED
// naming the device (ContainerArguments+CDI.swift).
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func createContainer(
    request: Runtime_V1_CreateContainerRequest, context: ServerContext
  ) async throws -> Runtime_V1_CreateContainerResponse {
    try await handle("CreateContainer", runtime) {
      let config = request.config
      guard !config.metadata.name.isEmpty else { throw LiftoffError.invalidArgument("config.metadata.name is empty") }
      guard !config.image.image.isEmpty else { throw LiftoffError.invalidArgument("config.image.image is empty") }
      let sandbox = try runtime.sandbox(request.podSandboxID)
      if sandbox.manifest.flavor == .fly && !config.linux.securityContext.privileged {
        throw LiftoffError.invalidArgument(
          "pod sandbox \(sandbox.id) runs with runtime handler \(Self.describe(sandbox.runtimeHandler, "fly")) (host namespaces, every capability): only privileged containers (config.linux.security_context.privileged) are accepted in it")
      }
      let store = try runtime.imageStore()
      guard let (summary, _) = try ImageService.find(store, config.image.image) else {
        throw LiftoffError.notFound("image \(config.image.image) not found: pull it first")
      }
      try runtime.checkImageTrust(config.image, imageID: summary.id)  // trust: CRIRuntime+Trust.swift
      let imageName = config.image.image.hasPrefix("sha256:") ? (summary.repoTags.first ?? summary.id) : config.image.image
      let imageRef = summary.repoDigests.first ?? summary.id
      // Image volumes (KEP-4639): kubelet pulled them first; one not in the store fails, naming it.
      var volumeImages: [Int: String] = [:]
      for (i, m) in config.mounts.enumerated() where m.hasImage {
        guard !m.image.image.isEmpty else { throw LiftoffError.invalidArgument("config.mounts[\(i)].image.image is empty") }
        guard let (volume, _) = try ImageService.find(store, m.image.image) else {
          throw LiftoffError.notFound("config.mounts[\(i)]: image volume image \(m.image.image) not found: pull it first")
        }
        try runtime.checkImageTrust(m.image, imageID: volume.id)
        volumeImages[i] = volume.id
      }
      let id = CRIRuntime.newContainerID()
      var containerArguments = ContainerArguments(
        request: request, sandbox: sandbox, containerID: id, imageID: summary.id, imageName: imageName,
        imageRef: imageRef)
      containerArguments.volumeImages = volumeImages
      containerArguments.cdiDevices = try ContainerArguments.resolveCDIDevices(
        config, directories: runtime.config.cdiSpecDirs, cache: runtime.cdiSpecs, logger: runtime.logger)
      let addRequest = try containerArguments.make()
      try await runtime.changingPod(sandbox.id) {
        guard let current = try runtime.existingSandbox(sandbox.id), current.ready else {
          throw LiftoffError(.failedPrecondition, "pod sandbox \(sandbox.id) is not ready")
        }
        let name = config.metadata.name
        if let holder = try runtime.containers(in: [current]).first(where: {
          $0.name == name && $0.attempt == config.metadata.attempt
        }) {
          throw LiftoffError(
            .alreadyExists,
            "container name \(name) (attempt \(config.metadata.attempt)) is already in use by container \(holder.id) in pod sandbox \(sandbox.id)")
        }
        try await runtime.stage0.run(addRequest)
      }
      runtime.logger.info("container created", metadata: ["id": "\(id)", "sandbox": "\(sandbox.id)"])
      await runtime.emit(.containerCreatedEvent, id: id, sandboxID: sandbox.id)
      var response = Runtime_V1_CreateContainerResponse()
      response.containerID = id
      return response
    }
  }
}
