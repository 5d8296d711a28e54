// `liftoff fetch SOURCE…`: pulls or imports images and prints each image ID. A progress bar with
// bytes and rate is drawn on stderr when it is a terminal; otherwise the command is quiet.
import ArgumentParser
import Foundation
import LiftoffCLI
import LiftoffCore
import LiftoffImage

#if canImport(Glibc)
  import Glibc
#endif

struct FetchCommand: AsyncParsableCommand {
  static let configuration = ImageCommands.fetch

  @OptionGroup var options: ImageOptions

  @Flag(name: .customLong("no-progress"), help: "Never draw a progress bar.")
  var noProgress = false

  @Option(name: .customLong("max-unpacked-bytes"), help: "Most bytes of file content one image may unpack to: bytes, or with K, M, G, T (default 64G).")
  var maxUnpackedBytes: String?

  @Option(name: .customLong("max-unpacked-entries"), help: "Most entries (files, directories, links) one image may unpack (default 4194304).")
  var maxUnpackedEntries: String?

  @Argument(help: "Images to fetch.")
  var sources: [String]

  func run() async throws {
    try await runReportingErrors {
      var limits = UnpackLimits()
      if let maxUnpackedBytes { limits.maxBytes = try UnpackLimits.parseSize(maxUnpackedBytes, setting: "--max-unpacked-bytes") }
      if let maxUnpackedEntries { limits.maxEntries = try UnpackLimits.parseCount(maxUnpackedEntries, setting: "--max-unpacked-entries") }
      let store = try options.store(unpackLimits: limits)
      for source in sources {
        let img = try await fetch(store, source)
        print(img.id)
      }
    }
  }

  func fetch(_ store: ImageStore, _ source: String) async throws -> ResolvedImage {
    if let imported = try await ImageImport.importIfLocal(store, source) { return imported }
    let ref = try ImageReference(parsing: source)
    let creds = try RegistryCredentials.fromDockerConfig(registry: ref.registry)
    let bar = (!noProgress && isatty(2) != 0) ? ProgressBar(label: ref.description) : nil
    var onChange: (@Sendable (Int64, Int64) -> Void)?
    if let bar { onChange = { done, total in bar.update(done: done, total: total) } }
    let progress = PullProgress(onChange: onChange)
    defer { bar?.finish() }
    return try await store.pull(source, credentials: creds, progress: progress)
  }
}

/// A one-line progress bar on stderr: label, bar, bytes, rate.
final class ProgressBar: @unchecked Sendable {
  let label: String
  let start = Date()
  let lock = NSLock()
  var last = Date.distantPast
  var drawn = false

  init(label: String) { self.label = label }

  func update(done: Int64, total: Int64) {
    lock.lock()
    defer { lock.unlock() }
    let now = Date()
    guard now.timeIntervalSince(last) > 0.1 || done == total else { return }
    last = now
    let frac = total > 0 ? min(1, Double(done) / Double(total)) : 0
    let width = 30
    let filled = Int(frac * Double(width))
    let rate = Double(done) / max(0.001, now.timeIntervalSince(start))
    let line = "\r\(label.prefix(40)) [\(String(repeating: "=", count: filled))\(String(repeating: " ", count: width - filled))] \(humanSize(done))/\(humanSize(total)) \(humanSize(Int64(rate)))/s\u{1b}[K"
    FileHandle.standardError.write(Data(line.utf8))
    drawn = true
  }

  func finish() {
    lock.lock()
    defer { lock.unlock() }
    if drawn { FileHandle.standardError.write(Data("\n".utf8)) }
  }
}
