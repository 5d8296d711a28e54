// Disk usage of the image store without walking the unpacked layers on every call (kubelet asks for
// ImageFsInfo every ~10 s; a store of many images is hundreds of thousands of inodes).
//
// A published layer (layers/<chain hex>/) is never written again, so its usage is measured once, when it
// is published, and recorded in layer-usage/<chain hex> together with the identity of the directory it
// was measured from (device, inode, change time):
//
//   v1 <st_dev> <st_ino> <ctime s> <ctime ns> <bytes> <inodes>
//
// The total is: every layer's recorded usage, plus a walk of the rest of images/ (blobs, refs, tmp,
// layer-usage itself: a few files per image) that counts the layers/ directory but does not enter it.
// Crash safety without a counter to drift: the record is written atomically after the layer's rename,
// by every writer (liftoff-cri's pulls, `liftoff fetch`, imports: all go through publishLayer). A crash
// between the rename and the record, a record lost or torn, or one left from an earlier directory of the
// same name (removed, then pulled again: another inode or change time) is found when the usage is read —
// one fstatat per layer — and that layer alone is measured and recorded again. A record whose layer is
// gone counts nothing (gc removes it with the layer, or later).
import Foundation
import LiftoffCore
import LiftoffOS

#if canImport(Glibc)
  import Glibc
#endif

extension ImageStore {
  var layerUsageDir: String { root + "/layer-usage" }

  /// The store's disk usage (`du` of `<dir>/images`: allocated bytes and inodes), from the layers'
  /// records and a walk of everything else. Layers without a valid record are measured and recorded
  /// first, so the answer equals a full walk made right after it.
  public func diskUsage() -> FilesystemUsage {
    var layers = FilesystemUsage()
    var layersStat = stat()
    var pruned: Set<UInt64> = []
    if lstat(layersDir, &layersStat) == 0 {
      pruned.insert(UInt64(layersStat.st_ino))
      for name in FileSystem.list(layersDir) {
        var st = stat()
        guard fstatat(AT_FDCWD, "\(layersDir)/\(name)", &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
        if (st.st_mode & S_IFMT) == S_IFDIR && st.st_dev == layersStat.st_dev {
          layers = layers + layerUsage(name, st)
        } else if (st.st_mode & S_IFMT) != S_IFDIR {
          layers = layers + FilesystemUsage(usedBytes: UInt64(st.st_blocks) * 512, inodesUsed: 1)
        }
      }
    }
    return FilesystemUsage.measure(root, pruned: pruned) + layers
  }

  /// One layer's usage: its record when it matches the directory `st`, else measured and recorded.
  func layerUsage(_ hex: String, _ st: stat) -> FilesystemUsage {
    if let text = try? String(contentsOfFile: "\(layerUsageDir)/\(hex)", encoding: .utf8) {
      let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
      if f.count == 7, f[0] == "v1", UInt64(f[1]) == UInt64(st.st_dev), UInt64(f[2]) == UInt64(st.st_ino),
        Int64(f[3]) == Int64(st.st_ctim.tv_sec), Int64(f[4]) == Int64(st.st_ctim.tv_nsec),
        let bytes = UInt64(f[5]), let inodes = UInt64(f[6])
      {
        return FilesystemUsage(usedBytes: bytes, inodesUsed: inodes)
      }
    }
    return recordLayerUsage(hex) ?? FilesystemUsage.measure("\(layersDir)/\(hex)")
  }

  /// Measures layers/<hex> and records it; nil when the layer is not there. A record that cannot be
  /// written (a full disk) is only missing: the next read measures again.
  @discardableResult
  func recordLayerUsage(_ hex: String) -> FilesystemUsage? {
    let dir = "\(layersDir)/\(hex)"
    var st = stat()
    guard lstat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return nil }
    let usage = FilesystemUsage.measure(dir)
    let line = "v1 \(UInt64(st.st_dev)) \(UInt64(st.st_ino)) \(st.st_ctim.tv_sec) \(st.st_ctim.tv_nsec) \(usage.usedBytes) \(usage.inodesUsed)\n"
    do {
      try FileSystem.makeDirectories(layerUsageDir)
      try LiftoffOS.FileSystem.writeAtomically("\(layerUsageDir)/\(hex)", line, mode: 0o600)
    } catch {}
    return usage
  }

  /// Drops records of layers that are gone, and temporary files a crash left (gc).
  func pruneLayerUsage() {
    for name in FileSystem.list(layerUsageDir) where name.hasPrefix(".tmp-") || !FileSystem.isDirectory("\(layersDir)/\(name)") {
      unlink("\(layerUsageDir)/\(name)")
    }
  }
}
