// Caps on what unpacking an image may write, so that a decompression bomb (a few MB of gzip or zstd
// that inflate to terabytes, or to millions of empty files) fails the pull instead of filling the
// disk or its inodes. Neither containerd nor CRI-O has such caps.
//
//   per image (all the layers one pull or import unpacks, shared by the layers unpacked at once):
//     bytes    max-unpacked-bytes    (default 64 GiB)    file sizes as the tar declares them
//     entries  max-unpacked-entries  (default 4194304)   every tar entry: files, dirs, links, whiteouts
//   and never more than the store's file system has free, less a reserve of 5 % of its blocks and
//   inodes, when the pull starts — so a bomb stops short of a full disk even where 64 GiB is more
//   than the disk holds.
//
// The defaults sit well above real images — the largest common ones (CUDA/PyTorch development
// images) unpack to 15–25 GiB and a few hundred thousand files — and stop a bomb after 64 GiB or
// 4 Mi inodes at worst. A layer already unpacked (shared with another image) costs nothing.
import Foundation
import LiftoffCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

public struct UnpackLimits: Sendable, Equatable {
  /// Bytes of file content one image may unpack to.
  public var maxBytes: Int64
  /// Tar entries one image may unpack.
  public var maxEntries: Int64

  public static let defaultMaxBytes: Int64 = 64 << 30
  public static let defaultMaxEntries: Int64 = 4 << 20
  /// Percent of the file system's blocks and inodes an unpack leaves free.
  public static let reservePercent: Int64 = 5

  public init(maxBytes: Int64 = defaultMaxBytes, maxEntries: Int64 = defaultMaxEntries) {
    self.maxBytes = maxBytes
    self.maxEntries = maxEntries
  }

  /// `123` (bytes), `64K`/`64KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB` (powers of 1024), for the
  /// max-unpacked-bytes setting named `setting` in errors.
  public static func parseSize(_ text: String, setting: String) throws -> Int64 {
    let s = text.trimmingCharacters(in: .whitespaces)
    let digits = s.prefix { $0.isASCII && $0.isNumber }
    let unit = s.dropFirst(digits.count).lowercased()
    let shifts: [String: Int64] = ["": 0, "b": 0, "k": 10, "kib": 10, "m": 20, "mib": 20, "g": 30, "gib": 30, "t": 40, "tib": 40]
    guard let n = Int64(digits), n > 0, let shift = shifts[unit], n <= Int64.max >> shift else {
      throw LiftoffError.invalidArgument("\(setting) \"\(text)\": want a positive size in bytes, or with K, M, G or T (KiB, MiB, GiB, TiB)")
    }
    return n << shift
  }

  /// A positive count for max-unpacked-entries.
  public static func parseCount(_ text: String, setting: String) throws -> Int64 {
    guard let n = Int64(text.trimmingCharacters(in: .whitespaces)), n > 0 else {
      throw LiftoffError.invalidArgument("\(setting) \"\(text)\": want a positive number of entries")
    }
    return n
  }

  /// 67108864 → "64 MiB", 1536 → "1.5 KiB".
  static func describe(_ n: Int64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB"]
    var i = 0
    var v = n
    while v >= 1024 && v % 1024 == 0 && i < units.count - 1 {
      v /= 1024
      i += 1
    }
    if i > 0 || n < 1024 { return "\(v) \(units[i])" }
    var d = Double(n)
    while d >= 1024 && i < units.count - 1 {
      d /= 1024
      i += 1
    }
    return "\((d * 10).rounded() / 10) \(units[i])"
  }
}

/// What the unpacks of one image may still write: its limits, lowered to what the file system of
/// `dir` has free above the reserve when the budget is made. Charged by every LayerUnpacker of the
/// image, on any thread.
final class UnpackBudget: Sendable {
  struct Cap: Sendable {
    var value: Int64
    /// Where the value comes from, for errors: "max-unpacked-bytes", or the disk.
    var source: String
  }

  let bytes: Cap
  let entries: Cap
  /// The file system's free space above the reserve, when statvfs told it.
  let disk: Cap?
  fileprivate let used = Mutex<(bytes: Int64, entries: Int64)>((0, 0))

  init(_ limits: UnpackLimits, dir: String) {
    var bytes = Cap(value: limits.maxBytes, source: "max-unpacked-bytes")
    var entries = Cap(value: limits.maxEntries, source: "max-unpacked-entries")
    var fs = statvfs()
    var disk: Cap?
    if statvfs(dir, &fs) == 0 {
      let reserve = UnpackLimits.reservePercent
      let unit = Int64(fs.f_frsize)
      let freeBytes = Int64(fs.f_bavail) * unit - Int64(fs.f_blocks) * unit * reserve / 100
      disk = Cap(value: max(0, freeBytes), source: "the free space of the file system of \(dir), less its \(reserve)% reserve")
      if freeBytes < bytes.value, let disk { bytes = disk }
      // File systems with dynamic inodes (btrfs) report no inode total.
      let freeInodes = Int64(fs.f_favail) - Int64(fs.f_files) * reserve / 100
      if fs.f_files > 0 && freeInodes < entries.value {
        entries = Cap(value: max(0, freeInodes), source: "the free inodes of the file system of \(dir), less its \(reserve)% reserve")
      }
    }
    self.bytes = bytes
    self.entries = entries
    self.disk = disk
  }

  /// Fails at once when the blobs still to download (`n` bytes, the manifest's sizes) do not fit in
  /// the file system's free space — they are stored beside the unpacked trees — instead of on ENOSPC
  /// partway through a download.
  func checkDownloads(_ n: Int64, what: String) throws {
    guard let disk, n > disk.value else { return }
    throw LiftoffError(
      .resourceExhausted,
      "\(what): its layers to download take \(UnpackLimits.describe(n)), more than \(disk.source) (\(UnpackLimits.describe(disk.value)))")
  }

  /// An account for one layer's unpack: what it charged can be given back (an unpack started again
  /// from the stored blob after its stream broke).
  func account() -> Account { Account(self) }

  final class Account: Sendable {
    let budget: UnpackBudget
    private let charged = Mutex<(bytes: Int64, entries: Int64)>((0, 0))

    init(_ budget: UnpackBudget) { self.budget = budget }

    func charge(bytes b: Int64 = 0, entries e: Int64 = 0, layer: String, entry: String) throws {
      try budget.charge(bytes: b, entries: e, layer: layer, entry: entry)
      charged.withLock { $0.bytes += b; $0.entries += e }
    }

    /// Gives back everything this account charged.
    func refund() {
      let (b, e) = charged.withLock { c in
        defer { c = (0, 0) }
        return (c.bytes, c.entries)
      }
      budget.used.withLock { $0.bytes -= b; $0.entries -= e }
    }
  }

  /// Takes `bytes` and `entries` from the budget, or fails naming the layer, the entry and the cap.
  func charge(bytes b: Int64 = 0, entries e: Int64 = 0, layer: String, entry: String) throws {
    let over: String? = used.withLock { u in
      if u.bytes + b > bytes.value {
        return "unpacking would exceed \(UnpackLimits.describe(bytes.value)) of file content for the image (\(bytes.source))"
      }
      if u.entries + e > entries.value {
        return "unpacking would exceed \(entries.value) entries for the image (\(entries.source))"
      }
      u.bytes += b
      u.entries += e
      return nil
    }
    if let over { throw LiftoffError(.resourceExhausted, "layer \(layer): entry \"\(entry)\": \(over)") }
  }
}
