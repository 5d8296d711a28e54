// Finds the network configuration a node uses: the lexically first `*.conflist`, `*.conf` or `*.json`
// file in the configuration directory (default /etc/cni/net.d), as libcni and containerd do; when the
// directory holds none, the embedded default network if it is enabled.
import Foundation
import LiftoffCore

public enum CNIConfigLoader {
  public static let extensions = ["conflist", "conf", "json"]

  /// The configuration files in `dir` in the order they are considered (hidden files skipped);
  /// empty when the directory does not exist.
  public static func candidateFiles(in dir: String) throws -> [String] {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: dir)
    } catch let e as CocoaError where e.code == .fileReadNoSuchFile {
      return []
    } catch {
      if !FileManager.default.fileExists(atPath: dir) { return [] }
      throw LiftoffError(.failedPrecondition, "cni conf dir \(dir): cannot list it", cause: DescribedError(error))
    }
    return names.filter { name in
      guard !name.hasPrefix("."), let dot = name.lastIndex(of: ".") else { return false }
      return extensions.contains(String(name[name.index(after: dot)...]))
    }.sorted().map { dir + "/" + $0 }.filter { path in
      var isDir: ObjCBool = false
      return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue
    }
  }

  /// The configuration list from the lexically first file in `dir`, or nil when there is none.
  public static func load(dir: String) throws -> CNINetworkConfigList? {
    guard let path = try candidateFiles(in: dir).first else { return nil }
    return try load(file: path)
  }

  /// Loads one file: a `.conflist` is a list; a `.conf`/`.json` is a single plugin wrapped as a list
  /// (or a list, if it has a "plugins" field).
  public static func load(file path: String) throws -> CNINetworkConfigList {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw LiftoffError(.failedPrecondition, "cni config \(path): cannot read it")
    }
    let json = try JSON.parse(data, what: "cni config \(path)")
    if path.hasSuffix(".conflist") || json["plugins"] != nil {
      return try CNINetworkConfigList(json: json, source: path)
    }
    return try CNINetworkConfigList(singlePlugin: json, source: path)
  }
}

extension JSON {
  /// Parses a document read from `what` (a file, a plugin's output), naming it in the error.
  static func parse(_ data: Data, what: String) throws(LiftoffError) -> JSON {
    do {
      return try JSON.parse(bytes: Array(data))
    } catch {
      throw LiftoffError(.invalidArgument, "\(what): \(error.message)")
    }
  }
}

/// An underlying error kept as text (Foundation's errors are not all Sendable).
struct DescribedError: Error, Sendable, CustomStringConvertible {
  var description: String
  init(_ error: any Error) { description = "\(error)" }
  init(text: String) { description = text }
}
