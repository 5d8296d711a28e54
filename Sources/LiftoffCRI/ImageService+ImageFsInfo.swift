// ImageFsInfo: the disk usage of the filesystems that hold images and containers' writable layers,
// which kubelet uses for image garbage collection and eviction. Like containerd (which reports its
// snapshotter's root), `fs_id.mountpoint` is the directory Liftoff stores them in: `<dir>/images` for
// image filesystems and `<dir>/pods` for container filesystems. Usage is measured, never estimated.
import Foundation
import GRPCCore
import LiftoffOS

extension ImageService {
  public func imageFsInfo(
    request: Runtime_V1_ImageFsInfoRequest, context: ServerContext
  ) async throws -> Runtime_V1_ImageFsInfoResponse {
    try await handle("ImageFsInfo", runtime) {
      var response = Runtime_V1_ImageFsInfoResponse()
      response.imageFilesystems = [Self.usage(of: runtime.imagesDir)]
      response.containerFilesystems = [Self.usage(of: runtime.podsDir)]
      return response
    }
  }

  static func usage(of dir: String) -> Runtime_V1_FilesystemUsage {
    let measured = FilesystemUsage.measure(dir)
    var usage = Runtime_V1_FilesystemUsage()
    usage.timestamp = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
    usage.fsID.mountpoint = dir
    usage.usedBytes.value = measured.usedBytes
    usage.inodesUsed.value = measured.inodesUsed
    return usage
  }
}
