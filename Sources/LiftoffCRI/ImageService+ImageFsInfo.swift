// ImageFsInfo: the disk usage of the filesystems that hold images and containers' writable layers,
// which kubelet uses for image garbage collection and eviction. Like containerd (which reports its
// snapshotter's root), `fs_id.mountpoint` is the directory Liftoff stores them in: `<dir>/images` for
// image filesystems and `<dir>/pods` for container filesystems. Usage is measured, never estimated:
// the images' from each unpacked layer's usage recorded when it was published (checked against the
// layer directory's identity on every call, measured again when it does not match) plus a walk of the
// store's small files (ImageStore+Usage.swift); the containers' by walking `<dir>/pods` — their writable
// layers (the apps' overlay upper dirs, which change all the time, so no record can stand for them) and
// each pod's few state files; the mounted rootfs are other file systems and are not entered.
import Foundation
import GRPCCore
import LiftoffImage
import LiftoffOS

extension ImageService {
  public func imageFsInfo(
    request: Runtime_V1_ImageFsInfoRequest, context: ServerContext
  ) async throws -> Runtime_V1_ImageFsInfoResponse {
    try await handle("ImageFsInfo", runtime) {
      var response = Runtime_V1_ImageFsInfoResponse()
      response.imageFilesystems = [Self.usage(of: runtime.imagesDir, try runtime.imageStore().diskUsage())]
      response.containerFilesystems = [Self.usage(of: runtime.podsDir, FilesystemUsage.measure(runtime.podsDir))]
      return response
    }
  }

  static func usage(of dir: String, _ measured: FilesystemUsage) -> Runtime_V1_FilesystemUsage {
    var usage = Runtime_V1_FilesystemUsage()
    usage.timestamp = Int64(Date().timeIntervalSince1970 * 1_000_000_000)
    usage.fsID.mountpoint = dir
    usage.usedBytes.value = measured.usedBytes
    usage.inodesUsed.value = measured.inodesUsed
    return usage
  }
}
