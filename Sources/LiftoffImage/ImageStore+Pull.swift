// Pulls from a registry into the store.
//
//   resolve manifest (tag → digest; an index → the manifest for this platform)
//   → config blob → layers, at most `parallelDownloads` at once; each layer streams from the network
//     into the blob ingest (hashed) and through a pipe into the unpacker thread at the same time, so
//     download, inflate and write overlap; the unpacked tree is published only after the blob's digest
//     was verified → ImageRecord → names.
// Pulls of the same blob or layer (in this process or another) wait on one lock and share the result.
import CArchive
import Foundation
import LiftoffCatalog
import LiftoffCore
import LiftoffOS
import NIOCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Progress of a pull, for a CLI progress bar: bytes received so far of the total to fetch.
public final class PullProgress: Sendable {
  struct State { var total: Int64 = 0; var done: Int64 = 0 }
  let state = Mutex(State())
  let onChange: (@Sendable (Int64, Int64) -> Void)?

  public init(onChange: (@Sendable (_ done: Int64, _ total: Int64) -> Void)? = nil) { self.onChange = onChange }

  func addTotal(_ n: Int64) { update { $0.total += n } }
  func add(_ n: Int64) { update { $0.done += n } }

  private func update(_ f: (inout State) -> Void) {
    let (d, t) = state.withLock { s -> (Int64, Int64) in
      f(&s)
      return (s.done, s.total)
    }
    onChange?(d, t)
  }

  public var done: Int64 { state.withLock { $0.done } }
  public var total: Int64 { state.withLock { $0.total } }
}

extension ImageStore {
  /// Pulls `reference` (`[docker://]host/repo[:tag|@digest]`, normalised as Docker does) and returns
  /// the image. The image ID is its config digest.
  public func pull(_ reference: String, credentials: RegistryCredentials? = nil, progress: PullProgress? = nil) async throws -> ResolvedImage {
    let ref = try ImageReference(parsing: reference)
    let client = try RegistryClient(reference: ref, hosts: hosts, credentials: credentials)
    do {
      let r = try await pull(ref, client: client, progress: progress)
      await client.shutdown()
      return r
    } catch {
      await client.shutdown()
      throw error
    }
  }

  func pull(_ ref: ImageReference, client: RegistryClient, progress: PullProgress?) async throws -> ResolvedImage {
    let trust = try trustRule(for: ref)  // trust (ImageStore+Trust.swift): a reject rule fails here
    let top = try await client.manifest(ref.manifestReference)
    // trust: the signatures the rule asks for, checked before anything is stored
    let verifiedSignatures = try await verifySignatures(trust, ref: ref, client: client, digest: top.digest)
    var manifestData = top.data
    var manifestDigest = top.digest
    var manifestType = top.mediaType
    var indexDigest: Digest?

    if MediaType.indexes.contains(top.mediaType) {
      let index: ImageIndex
      do { index = try decodeJSON(ImageIndex.self, from: top.data) } catch {
        throw LiftoffError.invalidArgument("index \(ref): invalid JSON: \(error)")
      }
      let chosen = try index.select(platform, what: "\(ref)")
      guard MediaType.manifests.contains(chosen.mediaType) else {
        throw LiftoffError.invalidArgument("index \(ref): nested index \(chosen.digest) is not supported")
      }
      indexDigest = top.digest  // stored once pinned, below
      let child = try await client.manifest(chosen.digest.description)
      manifestData = child.data
      manifestDigest = child.digest
      manifestType = child.mediaType
    }
    guard MediaType.manifests.contains(manifestType) else {
      throw LiftoffError.invalidArgument("manifest \(ref): unsupported media type \"\(manifestType)\"")
    }
    let manifest: ImageManifest
    do { manifest = try decodeJSON(ImageManifest.self, from: manifestData) } catch {
      throw LiftoffError.invalidArgument("manifest \(ref)@\(manifestDigest): invalid JSON: \(error)")
    }
    try manifest.validate("\(ref)@\(manifestDigest)")
    // Layer directories are keyed by the chain of the *blob* digests, which were verified on the
    // way in — not by the config's diff_ids, which Liftoff does not re-hash: an image claiming
    // another image's diff_ids must not be able to plant its content under that image's key.
    let chains = try ImageStore.chainIDs(manifest.layers.map(\.digest.description))
    // From here until its names are written, what this image will reference is kept from gc.
    let pin = try await pin(
      image: manifest.config.digest.description,
      blobs: [top.digest, manifestDigest, manifest.config.digest] + manifest.layers.map(\.digest), chains: chains)
    defer { pin.release() }
    if let indexDigest { try content.put(top.data, expected: indexDigest) }
    try content.put(manifestData, expected: manifestDigest)

    // Config: read into memory, so refused above its limit before anything is fetched.
    let configWhat = "config \(manifest.config.digest) of \(ref)"
    try ContentStore.Limit.config.check(manifest.config.size, configWhat)
    if !content.has(manifest.config.digest) {
      try await fetchBlob(client: client, desc: manifest.config, progress: nil)
    }
    let configData = try content.read(manifest.config.digest, limit: .config, what: configWhat)
    let config: ImageConfig
    do { config = try ImageConfig(json: JSON.parse(bytes: Array(configData)), in: "config") } catch {
      throw LiftoffError.invalidArgument("config \(manifest.config.digest) of \(ref): invalid JSON: \(error)")
    }
    guard config.rootfs.diffIDs.count == manifest.layers.count else {
      throw LiftoffError.invalidArgument(
        "image \(ref): config lists \(config.rootfs.diffIDs.count) diff_ids for \(manifest.layers.count) layers")
    }
    // Layers.
    let missing = manifest.layers.indices.filter { !(content.has(manifest.layers[$0].digest) && FileSystem.isDirectory(layerDir(chains[$0]))) }
    for i in missing { progress?.addTotal(manifest.layers[i].size) }
    let budget = unpackBudget()
    var downloads: Int64 = 0
    for i in missing where !content.has(manifest.layers[i].digest) { downloads += manifest.layers[i].size }
    try budget.checkDownloads(downloads, what: "image \(ref)")
    try await withThrowingTaskGroup(of: Void.self) { group in
      var next = 0
      func start() {
        guard next < missing.count else { return }
        let i = missing[next]
        next += 1
        group.addTask { try await self.pullLayer(client: client, desc: manifest.layers[i], chain: chains[i], budget: budget, progress: progress) }
      }
      for _ in 0..<parallelDownloads { start() }
      while try await group.next() != nil { start() }
    }

    let size = manifest.config.size + manifest.layers.reduce(0) { $0 + $1.size }
    let rec = ImageRecord(
      id: manifest.config.digest.description, manifestDigest: manifestDigest.description, indexDigest: indexDigest?.description,
      chainIDs: chains.map(\.description), layerDigests: manifest.layers.map(\.digest.description), size: size,
      source: "docker://\(ref)", createdAt: ISO8601DateFormatter().string(from: Date()))
    try writeRecord(rec)
    FailPoint.hit(.imageRecordWritten)
    let topDigest = indexDigest ?? manifestDigest
    try await recordSignatures(verifiedSignatures, manifestDigest: topDigest)  // trust: before any name points at the image
    if let t = ref.taggedName { try writeName(NameRecord(name: t, id: rec.id, manifestDigest: topDigest.description)) }
    try writeName(NameRecord(name: ref.canonicalName(topDigest), id: rec.id, manifestDigest: topDigest.description))
    return try resolve(rec.id)
  }

  /// Fetches a blob into the content store (no unpacking), merging with concurrent fetches.
  func fetchBlob(client: RegistryClient, desc: Descriptor, progress: PullProgress?) async throws {
    let lock = try FileLock(content.lockPath(desc.digest))
    try await lock.lock()
    defer { lock.unlock() }
    if content.has(desc.digest) { return }
    var writer = try BlobWriter(store: content, expected: desc.digest, expectedSize: desc.size)
    try await client.blob(desc, restart: {
      writer.abort()
      writer = try BlobWriter(store: content, expected: desc.digest, expectedSize: desc.size)
    }, sink: { buf in
      try buf.withUnsafeReadableBytes { try writer.write($0) }
      progress?.add(Int64(buf.readableBytes))
    })
    _ = try writer.commit()
  }

  /// Downloads and unpacks one layer, streaming the download into the unpacker. Nothing becomes
  /// visible unless both succeed: the blob is committed (its digest verified) only after the unpack
  /// finished, and the unpacked tree is published after that. An unpack that fails (a hostile
  /// entry, the image's unpack budget spent) stops the download at its next chunk.
  func pullLayer(client: RegistryClient, desc: Descriptor, chain: Digest, budget: UnpackBudget, progress: PullProgress?) async throws {
    let blobLock = try FileLock(content.lockPath(desc.digest))
    try await blobLock.lock()
    if content.has(desc.digest) {
      blobLock.unlock()
      progress?.add(desc.size)
      try await ensureLayer(blob: desc.digest, chain: chain, budget: budget)
      return
    }
    defer { blobLock.unlock() }
    let layerLock = try FileLock("\(tmpDir)/layer-\(chain.encoded).lock")
    try await layerLock.lock()
    defer { layerLock.unlock() }
    let needUnpack = !FileSystem.isDirectory(layerDir(chain))
    let layer = desc.digest.description

    var writer = try BlobWriter(store: content, expected: desc.digest, expectedSize: desc.size)
    // The unpacker reads the pipe on its own thread while the download writes it.
    var pipeWrite: Int32 = -1
    var unpackDir: String?
    var unpacker: Task<UnpackStats, any Error>?
    var account = budget.account()
    let unpackFailed = UnpackFailure()
    if needUnpack {
      var fds: [Int32] = [-1, -1]
      guard pipe2(&fds, O_CLOEXEC) == 0 else { throw SystemCallError("pipe2", errno: errno) }
      _ = fcntl(fds[1], LIFTOFF_F_SETPIPE_SZ, Int32(1 << 20))
      pipeWrite = fds[1]
      let readFD = fds[0]
      let dir = try makeUnpackDir()
      unpackDir = dir
      let streamAccount = account
      unpacker = Task {
        try await runOnThread {
          defer {
            // Drain to EOF so the writer never blocks or gets EPIPE, then close.
            var sink = [UInt8](repeating: 0, count: 65536)
            while read(readFD, &sink, sink.count) > 0 {}
            close(readFD)
          }
          do { return try LayerUnpacker.unpack(fd: readFD, into: dir, layer: layer, budget: streamAccount) } catch {
            unpackFailed.set()
            throw error
          }
        }
      }
    }
    func closePipe() {
      if pipeWrite >= 0 {
        close(pipeWrite)
        pipeWrite = -1
      }
    }
    var streamBroken = false
    do {
      try await client.blob(desc, restart: {
        writer.abort()
        writer = try BlobWriter(store: content, expected: desc.digest, expectedSize: desc.size)
        // The unpacker cannot rewind: it is fed from the downloaded file afterwards instead.
        if pipeWrite >= 0 { streamBroken = true }
        closePipe()
      }, sink: { buf in
        if unpackFailed.isSet { throw UnpackFailure.Stop() }
        try buf.withUnsafeReadableBytes { b in
          try writer.write(b)
          if pipeWrite >= 0 {
            var off = 0
            while off < b.count {
              let n = write(pipeWrite, b.baseAddress! + off, b.count - off)
              if n < 0 {
                if errno == EINTR { continue }
                streamBroken = true
                closePipe()
                break
              }
              off += n
            }
          }
        }
        progress?.add(Int64(buf.readableBytes))
      })
      closePipe()
      if let unpacker, let dir = unpackDir {
        if streamBroken {
          // Unpack again from the downloaded (not yet committed) file, with the broken attempt's
          // charges given back.
          _ = await unpacker.result
          account.refund()
          try FileSystem.removeTree(dir)
          let again = try makeUnpackDir()
          unpackDir = again
          account = budget.account()
          let (path, retry) = (writer.tmpPath, account)
          _ = try await runOnThread { try LayerUnpacker.unpack(archivePath: path, into: again, layer: layer, budget: retry) }
        } else {
          _ = try await unpacker.value
        }
      }
      _ = try writer.commit()
      FailPoint.hit(.imageBlobCommitted)
      if let unpackDir { try publishLayer(unpackDir, chain: chain) }
    } catch {
      writer.abort()
      closePipe()
      let unpackResult = await unpacker?.result
      if let unpackDir { try? FileSystem.removeTree(unpackDir) }
      // A download stopped because the unpack failed: the unpack's error says why.
      if error is UnpackFailure.Stop, case .failure(let e)? = unpackResult { throw e }
      throw error
    }
  }
}

/// Set by a layer's unpacker when it fails, so that the download feeding it stops.
final class UnpackFailure: Sendable {
  private let failed = Mutex(false)
  func set() { failed.withLock { $0 = true } }
  var isSet: Bool { failed.withLock { $0 } }
  /// What the download's sink throws once the unpack failed.
  struct Stop: Error {}
}
