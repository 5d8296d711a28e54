// The store's metadata files, under images/refs/ (shared/DESIGN.md "refs/… names → manifest digests"):
//   refs/names/<escaped name>   NameRecord: one name (`host/repo:tag` or `host/repo@digest`) → image
//   refs/ids/<config hex>        ImageRecord: what makes the image (manifest, layers), written before
//                                any name points at it
// Both are JSON written atomically. An image exists once its ImageRecord exists; `gc` removes records
// no name and no pod uses.
import Foundation
import LiftoffCore

public struct NameRecord: Sendable, Equatable {
  public var name: String
  /// The image ID (config digest).
  public var id: String
  /// The digest the name resolved to at pull time (an index digest for multi-platform images).
  public var manifestDigest: String

  public init(name: String, id: String, manifestDigest: String) {
    self.name = name
    self.id = id
    self.manifestDigest = manifestDigest
  }
}

extension NameRecord {
  /// Reads a record with LiftoffCore's JSON (see ImageConfig(json:) for why not JSONDecoder); records
  /// written by earlier builds' JSONEncoder read the same.
  public init(json j: JSON, in ctx: String) throws(LiftoffError) {
    self.init(
      name: try j.string("name", in: ctx), id: try j.string("id", in: ctx),
      manifestDigest: try j.string("manifestDigest", in: ctx))
  }

  /// The record as written, members sorted (as JSONEncoder's .sortedKeys wrote them before).
  public var json: JSON { .obj([("id", .string(id)), ("manifestDigest", .string(manifestDigest)), ("name", .string(name))]) }
}

public struct ImageRecord: Sendable, Equatable {
  /// The image ID: the digest of its config.
  public var id: String
  /// The platform-specific image manifest.
  public var manifestDigest: String
  /// The index (or manifest list) the manifest was selected from, if any.
  public var indexDigest: String?
  /// Layer keys, lowest first (directories under images/layers/): the OCI chain-ID rule over the
  /// layers' verified blob digests.
  public var chainIDs: [String]
  /// Layer blob digests, lowest first (as in the manifest).
  public var layerDigests: [String]
  /// Compressed size of config + layers, as registries and CRI report it.
  public var size: Int64
  /// Where the image came from (`docker://…`, `oci-layout:…`, a file).
  public var source: String
  /// When the store got it (RFC 3339).
  public var createdAt: String

  public init(
    id: String, manifestDigest: String, indexDigest: String?, chainIDs: [String], layerDigests: [String], size: Int64,
    source: String, createdAt: String
  ) {
    self.id = id
    self.manifestDigest = manifestDigest
    self.indexDigest = indexDigest
    self.chainIDs = chainIDs
    self.layerDigests = layerDigests
    self.size = size
    self.source = source
    self.createdAt = createdAt
  }
}

extension ImageRecord {
  public init(json j: JSON, in ctx: String) throws(LiftoffError) {
    guard let size = try j.optInt64("size", in: ctx) else { throw .invalidArgument("\(ctx): missing field size") }
    guard j["chainIDs"].map({ !$0.isNull }) == true, j["layerDigests"].map({ !$0.isNull }) == true else {
      throw .invalidArgument("\(ctx): missing field chainIDs or layerDigests")
    }
    self.init(
      id: try j.string("id", in: ctx), manifestDigest: try j.string("manifestDigest", in: ctx),
      indexDigest: try j.optString("indexDigest", in: ctx), chainIDs: try j.strings("chainIDs", in: ctx),
      layerDigests: try j.strings("layerDigests", in: ctx), size: size, source: try j.string("source", in: ctx),
      createdAt: try j.string("createdAt", in: ctx))
  }

  public var json: JSON {
    .obj([
      ("chainIDs", .strs(chainIDs)), ("createdAt", .string(createdAt)), ("id", .string(id)), ("indexDigest", .str(indexDigest)),
      ("layerDigests", .strs(layerDigests)), ("manifestDigest", .string(manifestDigest)), ("size", .int(size)),
      ("source", .string(source)),
    ])
  }
}

/// One image as listings show it.
public struct ImageSummary: Codable, Sendable, Equatable {
  public var id: String
  public var repoTags: [String]
  public var repoDigests: [String]
  public var manifestDigest: String
  public var size: Int64
  public var createdAt: String
  public var source: String

  enum CodingKeys: String, CodingKey { case id, repoTags, repoDigests, manifestDigest, size, createdAt, source }

  public init(
    id: String, repoTags: [String], repoDigests: [String], manifestDigest: String, size: Int64, createdAt: String, source: String
  ) {
    self.id = id
    self.repoTags = repoTags
    self.repoDigests = repoDigests
    self.manifestDigest = manifestDigest
    self.size = size
    self.createdAt = createdAt
    self.source = source
  }
}
