// How stage0 turns an IMAGE argument into a ResolvedImage (LiftoffCore's contract with the image
// store). A path to a directory is a one-layer image whose rootfs is that directory (handy for
// node bootstrap and tests); names go to LiftoffImage's store once it is wired in.
import Foundation
import LiftoffCore
import LiftoffOS

public protocol ImageResolving: Sendable {
  func resolve(_ name: String) throws(LiftoffError) -> ResolvedImage
}

public struct RootfsDirectoryResolver: ImageResolving {
  /// Resolves names that are not directories; nil means only directories are accepted.
  public var fallback: (any ImageResolving)?

  public init(fallback: (any ImageResolving)? = nil) { self.fallback = fallback }

  public static func isDirectoryReference(_ name: String) -> Bool {
    name.hasPrefix("/") || name.hasPrefix("./") || name.hasPrefix("../") || name.hasPrefix("dir:")
  }

  public func resolve(_ name: String) throws(LiftoffError) -> ResolvedImage {
    if Self.isDirectoryReference(name) {
      let path = name.hasPrefix("dir:") ? String(name.dropFirst(4)) : name
      guard FileSystem.isDirectory(path) else { throw .notFound("rootfs directory \(path) not found") }
      let canonical: String
      do { canonical = try Mounts.canonical(path) } catch { throw .notFound("rootfs directory \(path): \(error)") }
      let config = ImageConfig(architecture: "amd64", os: "linux", config: ImageRuntimeConfig(), rootfs: RootFS(diffIDs: []))
      return ResolvedImage(id: "", names: [canonical], manifestDigest: nil, config: config, layerDirs: [canonical])
    }
    guard let fallback else {
      throw .notFound("image \(name): not a rootfs directory, and no image store to look it up in")
    }
    return try fallback.resolve(name)
  }
}
