// The content-addressed blob store of shared/DESIGN.md's `images/` tree:
//
//   images/blobs/sha256/<hex>   visible only once its digest and size were verified
//   images/tmp/                 ingests in progress (random names; `gc` removes leftovers)
//   images/tmp/<hex>.lock       flock held while one process ingests <hex>; others wait, then find it
//
// A blob is written to tmp while being hashed, fsynced, checked against the expected digest and size,
// and only then renamed into blobs/. A SIGKILL at any instant leaves at most a tmp file.
import struct Crypto.SHA256
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffOS

#if canImport(Glibc)
  import Glibc
#endif

public final class ContentStore: Sendable {
  public let root: String
  var blobsDir: String { root + "/blobs/sha256" }
  var tmpDir: String { root + "/tmp" }

  public init(root: String) throws {
    self.root = root
    try FileSystem.makeDirectories(root + "/blobs/sha256")
    for d in [root, root + "/blobs", root + "/tmp"] { try LiftoffOS.FileSystem.makePrivateDirectory(d) }
  }

  public func path(_ d: Digest) -> String { ImageCatalog.blobPath(root: root, d) }

  public func has(_ d: Digest) -> Bool { FileSystem.exists(path(d)) }

  public func read(_ d: Digest) throws -> Data {
    do { return try Data(contentsOf: URL(fileURLWithPath: path(d))) } catch {
      throw LiftoffError(.notFound, "blob \(d) not in the store")
    }
  }

  public func size(_ d: Digest) -> Int64? { FileSystem.size(path(d)) }

  /// How large a blob that is read into memory whole may be.
  public struct Limit: Sendable {
    public let bytes: Int
    /// What it is for, in errors: "the 4 MiB limit for manifests and indexes".
    public let name: String

    /// Manifests and indexes: containerd's MaxManifestSize (4 × 1048 × 1048 bytes) and
    /// containers/image's MaxManifestBodySize (4 MiB); a manifest of 128 layers is ~32 KiB.
    public static let manifest = Limit(bytes: 4 << 20, name: "manifests and indexes")
    /// Image configs: twice containers/image's MaxConfigBodySize (4 MiB); the history and labels of
    /// real images take a few hundred KiB at most.
    public static let config = Limit(bytes: 8 << 20, name: "image configs")

    /// Refuses `size` bytes of `what` above the limit.
    public func check(_ size: Int64, _ what: String) throws {
      guard size > Int64(bytes) else { return }
      throw LiftoffError.invalidArgument("\(what) is \(size) bytes, over the \(bytes >> 20) MiB limit for \(name)")
    }
  }

  /// A stored blob that is read into memory (a manifest, index or config), refused when larger than
  /// `limit`; `what` names it in errors.
  public func read(_ d: Digest, limit: Limit, what: String) throws -> Data {
    try limit.check(size(d) ?? 0, what)
    return try read(d)
  }

  /// Every blob digest in the store.
  public func all() -> [Digest] {
    FileSystem.list(blobsDir).compactMap { try? Digest(sha256Hex: $0) }
  }

  public func remove(_ d: Digest) throws {
    if unlink(path(d)) != 0 && errno != ENOENT { throw SystemCallError("unlink", errno: errno, path: path(d)) }
  }

  /// Stores in-memory content (a manifest, a config) after checking it hashes to `expected`
  /// (when given). Returns its digest.
  @discardableResult
  public func put(_ data: Data, expected: Digest? = nil) throws -> Digest {
    let w = try BlobWriter(store: self, expected: expected, expectedSize: expected == nil ? nil : Int64(data.count))
    try data.withUnsafeBytes { try w.write($0) }
    return try w.commit()
  }

  /// A lock file path for an ingest of `d`.
  func lockPath(_ d: Digest) -> String { "\(tmpDir)/\(d.encoded).lock" }

  /// Removes leftover ingests (tmp files no process holds).
  public func cleanTemporary() {
    for n in FileSystem.list(tmpDir) {
      let p = "\(tmpDir)/\(n)"
      if n.hasSuffix(".lock") {
        if let l = try? FileLock(p), l.tryLock() { unlink(p); l.unlock() }
        continue
      }
      // Ingest files carry their writer's pid: leave those of live processes alone.
      if let pid = n.split(separator: "-").dropFirst().first.flatMap({ Int32($0) }), kill(pid, 0) == 0, pid != getpid() {
        continue
      }
      try? FileSystem.removeTree(p)
    }
  }

  public static func sha256(_ data: Data) -> Digest {
    let h = SHA256.hash(data: data)
    return try! Digest(sha256Hex: h.map { String(format: "%02x", $0) }.joined())
  }

  public static func sha256(_ s: String) -> Digest { sha256(Data(s.utf8)) }
}

/// Writes one blob into the store's tmp directory while hashing it; `commit()` verifies and publishes.
public final class BlobWriter: @unchecked Sendable {
  let store: ContentStore
  let expected: Digest?
  let expectedSize: Int64?
  let tmpPath: String
  private var fd: Int32
  private var hasher = SHA256()
  public private(set) var written: Int64 = 0

  init(store: ContentStore, expected: Digest?, expectedSize: Int64?) throws {
    if let expected, expected.algorithm != "sha256" {
      throw LiftoffError.invalidArgument("blob \(expected): only sha256 content is supported")
    }
    self.store = store
    self.expected = expected
    self.expectedSize = expectedSize
    tmpPath = "\(store.tmpDir)/ingest-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
    fd = open(tmpPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw SystemCallError("open", errno: errno, path: tmpPath) }
  }

  public func write(_ buf: UnsafeRawBufferPointer) throws {
    guard buf.count > 0 else { return }
    written += Int64(buf.count)
    if let expectedSize, written > expectedSize {
      abort()
      throw LiftoffError.invalidArgument("blob \(expected.map { "\($0)" } ?? "?"): more than the \(expectedSize) bytes its descriptor declares")
    }
    hasher.update(bufferPointer: buf)
    try LiftoffOS.FileSystem.writeAll(fd, buf, path: tmpPath)
  }

  /// Verifies digest and size, fsyncs and renames into place. Returns the digest.
  /// On mismatch nothing becomes visible and the temp file is removed.
  public func commit() throws -> Digest {
    defer { abort() }
    let hex = hasher.finalize().map { String(format: "%02x", $0) }.joined()
    let actual = try Digest(sha256Hex: hex)
    if let expected, expected != actual {
      throw LiftoffError.invalidArgument("blob digest mismatch: expected \(expected), got \(actual)")
    }
    if let expectedSize, expectedSize != written {
      throw LiftoffError.invalidArgument("blob \(actual): size \(written) does not match the declared \(expectedSize)")
    }
    guard fsync(fd) == 0 else { throw SystemCallError("fsync", errno: errno, path: tmpPath) }
    close(fd)
    fd = -1
    let dest = store.path(actual)
    guard rename(tmpPath, dest) == 0 else { throw SystemCallError("rename", errno: errno, path: dest) }
    FileSystem.fsyncDirectory(store.blobsDir)
    return actual
  }

  /// Drops the ingest: closes and removes the temp file (idempotent).
  public func abort() {
    if fd >= 0 {
      close(fd)
      fd = -1
    }
    unlink(tmpPath)
  }

  deinit { abort() }
}
