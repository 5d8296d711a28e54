// `liftoff image list|status|rm|cat-manifest|gc|extract|render|export` (rkt's words).
import ArgumentParser
import Foundation
import LiftoffCLI
import LiftoffCatalog
import LiftoffCore
import LiftoffImage

struct ImageCommand: AsyncParsableCommand {
  static let configuration = {
    var c = ImageCommands.image
    c.subcommands = [List.self, Status.self, Remove.self, CatManifest.self, GC.self, Extract.self, Render.self, Export.self]
    return c
  }()

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List images.")
    @OptionGroup var options: ImageOptions
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
      try await runReportingErrors {
        let images = try options.store().list()
        if format == .json { return try printJSON(images) }
        print("ID".padding(toLength: 20, withPad: " ", startingAt: 0) + "NAME".padding(toLength: 60, withPad: " ", startingAt: 0) + "SIZE")
        for i in images {
          let short = String(i.id.dropFirst(7).prefix(12))
          let name = i.repoTags.first ?? i.repoDigests.first ?? "<none>"
          print("sha256:\(short)".padding(toLength: 20, withPad: " ", startingAt: 0)
                + name.padding(toLength: max(60, name.count + 1), withPad: " ", startingAt: 0) + humanSize(i.size))
        }
      }
    }
  }

  struct StatusDocument: Encodable {
    var image: ImageSummary
    var config: JSON
    var layers: [String]
    enum CodingKeys: String, CodingKey { case image, config, layers }
  }

  struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show an image's details.")
    @OptionGroup var options: ImageOptions
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text
    @Argument(help: "Image name or ID (prefix).") var image: String

    func run() async throws {
      try await runReportingErrors {
        let store = try options.store()
        let resolved = try store.resolve(image)
        let rec = try store.record(id: resolved.id)
        let doc = StatusDocument(image: store.summary(rec), config: resolved.config.json, layers: resolved.layerDirs)
        if format == .json { return try printJSON(doc) }
        print("id: \(rec.id)")
        print("names: \(doc.image.repoTags.joined(separator: ", "))")
        print("digests: \(doc.image.repoDigests.joined(separator: ", "))")
        print("platform: \(resolved.config.os)/\(resolved.config.architecture)\(resolved.config.variant.map { "/\($0)" } ?? "")")
        print("size: \(humanSize(rec.size))")
        print("source: \(rec.source)")
        let c = resolved.config.config
        print("entrypoint: \(c?.entrypoint ?? [])")
        print("cmd: \(c?.cmd ?? [])")
        print("user: \(c?.user ?? "")")
        print("workdir: \(c?.workingDir ?? "")")
        print("layers: \(rec.chainIDs.count)")
      }
    }
  }

  struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove images (by name, ID or digest).")
    @OptionGroup var options: ImageOptions
    @Argument(help: "Images to remove.") var images: [String]

    func run() async throws {
      try await runReportingErrors {
        let store = try options.store()
        var failed = false
        for i in images {
          do {
            let removed = try store.remove(i)
            print(removed.isEmpty ? "untagged \(i)" : "removed \(removed.joined(separator: " "))")
          } catch let e as LiftoffError {
            FileHandle.standardError.write(Data("liftoff: \(e.description)\n".utf8))
            failed = true
          }
        }
        if failed { throw ExitCode(1) }
      }
    }
  }

  struct CatManifest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cat-manifest", abstract: "Print an image's manifest.")
    @OptionGroup var options: ImageOptions
    @Flag(help: "Print the image config instead.") var config = false
    @Argument(help: "Image name or ID.") var image: String

    func run() async throws {
      try await runReportingErrors {
        let store = try options.store()
        let rec = try store.record(id: try store.resolveID(image))
        let data = try store.content.read(try Digest(config ? rec.id : rec.manifestDigest))
        let obj = try JSONSerialization.jsonObject(with: data)
        let pretty = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        FileHandle.standardOutput.write(pretty)
        print()
      }
    }
  }

  struct GC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "gc", abstract: "Remove images no name or pod uses, and unreferenced blobs and layers.")
    @OptionGroup var options: ImageOptions
    @Option(help: "Output format: text or json.") var format: OutputFormat = .text

    func run() async throws {
      try await runReportingErrors {
        let store = try options.store()
        let report = try store.garbageCollect(inUse: ImageStore.imagesInUse(podsDir: options.dir + "/pods"))
        if format == .json { return try printJSON(report) }
        print("removed \(report.removedImages.count) images, \(report.removedBlobs.count) blobs, \(report.removedLayers.count) layers; reclaimed \(humanSize(report.reclaimedBytes))")
      }
    }
  }

  struct Extract: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "extract", abstract: "Write an image's merged rootfs to DIR/rootfs and its config to DIR/manifest.")
    @OptionGroup var options: ImageOptions
    @Flag(name: .customLong("rootfs-only"), help: "Write only the rootfs, into DIR itself.") var rootfsOnly = false
    @Argument(help: "Image name or ID.") var image: String
    @Argument(help: "Target directory (must not exist or be empty).") var target: String

    func run() async throws {
      try await runReportingErrors {
        let store = try options.store()
        try store.extract(image, to: target, rootfsOnly: rootfsOnly)
      }
    }
  }

  struct Render: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "render", abstract: "Write an image's merged rootfs to DIR.")
    @OptionGroup var options: ImageOptions
    @Argument(help: "Image name or ID.") var image: String
    @Argument(help: "Target directory (must not exist or be empty).") var target: String

    func run() async throws {
      try await runReportingErrors {
        try options.store().extract(image, to: target, rootfsOnly: true)
      }
    }
  }

  struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export an image to a file.")
    @OptionGroup var options: ImageOptions
    @Option(help: "aci or oci-archive.") var format: String = "oci-archive"
    @Flag(help: "Replace FILE if it exists.") var overwrite = false
    @Argument(help: "Image name or ID.") var image: String
    @Argument(help: "Output file.") var file: String

    func run() async throws {
      try await runReportingErrors {
        let store = try options.store()
        if FileManager.default.fileExists(atPath: file) && !overwrite {
          throw LiftoffError(.alreadyExists, "\(file) exists (use --overwrite)")
        }
        switch format {
        case "oci-archive": try store.exportOCIArchive(image, to: file)
        case "aci": try store.exportACI(image, to: file)
        default: throw LiftoffError.invalidArgument("unknown export format \"\(format)\": want aci or oci-archive")
        }
      }
    }
  }
}
