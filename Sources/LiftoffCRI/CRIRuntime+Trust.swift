// Image trust at CreateContainer (issue #19): the image must pass the policy in `trust-dir` as it stands
// now, on what its pull verified (LiftoffCatalog TrustRecord.swift) — never the network. A rule added
// after the pull applies: an image pulled before it is refused until it is pulled, and verified, again.
// `liftoff app add` checks the same again, for every other way a container is made.
//
// Refusals are FAILED_PRECONDITION (PullImage's too, from ImageStore+Trust.swift), not PERMISSION_DENIED:
// the caller is allowed to ask, and the request is sound; it is the image that does not meet the
// node's policy, as it stands — re-signing it, pulling it again or changing the rule changes the
// answer. PERMISSION_DENIED already means that the registry refused the credentials.
import LiftoffCatalog
import LiftoffCore
import LiftoffImage

extension CRIRuntime {
  /// Refuses an image the policy does not accept for the name it is asked by: `image.image`, or,
  /// when that is an ID (kubelet sends the ID PullImage answered), `user_specified_image`.
  func checkImageTrust(_ image: Runtime_V1_ImageSpec, imageID: String) throws {
    try ImageCatalog(root: imagesDir).enforceTrust(
      trustDir: config.trustDir, imageID: imageID, spec: image.image, userSpecified: image.userSpecifiedImage)
  }
}
