// How `liftoff run|prepare|app add` find an image by name: a rootfs directory path is used as it is
// (RootfsDirectoryResolver), anything else is looked up in the image store under `--dir` — by name,
// by ID or by unique ID prefix, as `liftoff image list` shows them. An image not in the store is an
// error that says to fetch it first (the CRI service pulls through ImageService before it creates).
// A store image must also pass the trust policy in `--trust-dir` as it stands now (LiftoffCatalog
// TrustRecord.swift): what its pull verified, held against the rule for the name it is run by.
import Foundation
import LiftoffCore
import LiftoffCatalog
import LiftoffPod

struct StoreImageResolver: ImageResolving {
  let dir: String
  let trustDir: String

  func resolve(_ name: String) throws(LiftoffError) -> ResolvedImage {
    let stripped = name.hasPrefix("docker://") ? String(name.dropFirst("docker://".count)) : name
    do {
      let catalog = ImageCatalog(root: dir + "/images")
      let image = try catalog.resolve(stripped)
      try catalog.enforceTrust(trustDir: trustDir, imageID: image.id, spec: stripped)
      return image
    } catch let e as LiftoffError {
      if e.code == .notFound {
        throw .notFound("image \(name) is not in the image store at \(dir)/images: run `liftoff fetch \(name)` first")
      }
      throw e
    } catch {
      throw .init(.internal, "image \(name): \(error)")
    }
  }
}

extension Globals {
  /// Rootfs directories first, then the image store.
  var imageResolver: any ImageResolving { RootfsDirectoryResolver(fallback: StoreImageResolver(dir: dir, trustDir: trustDir)) }
}
