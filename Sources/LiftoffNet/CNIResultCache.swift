// The on-disk record of each pod attachment, so that DEL gets the ADD's result as `prevResult`, the same
// configuration and the same arguments even after Liftoff restarts or the config file changes, and so
// that GC can find attachments a crash left behind.
//
//   <root>/results/<network name>/<container id>-<ifname>.json     (one JSON document, written atomically)
//
// The record is written *before* the first plugin runs (with no result yet) and again with the result
// after the last: a crash in between leaves a record that GC turns into a DEL, so nothing leaks.
import Foundation
import Glibc
import LiftoffCore
import LiftoffOS

public struct CNICacheEntry: Sendable, Equatable {
  public static let kind = "liftoffCNICacheV1"

  public var containerID: String
  public var ifName: String
  public var netnsPath: String
  public var cniArgs: String
  public var capabilityArgs: [String: JSON]
  /// The configuration list ADD ran (`CNINetworkConfigList.json`).
  public var config: JSON
  /// The ADD's result; nil while ADD is under way (or if it crashed).
  public var result: JSON?

  var json: JSON {
    [
      "kind": .string(Self.kind), "containerId": .string(containerID), "ifName": .string(ifName),
      "netns": .string(netnsPath), "cniArgs": .string(cniArgs),
      "capabilityArgs": .object(capabilityArgs.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
      "config": config, "result": result ?? .null,
    ]
  }

  init(
    containerID: String, ifName: String, netnsPath: String, cniArgs: String,
    capabilityArgs: [String: JSON], config: JSON, result: JSON?
  ) {
    self.containerID = containerID
    self.ifName = ifName
    self.netnsPath = netnsPath
    self.cniArgs = cniArgs
    self.capabilityArgs = capabilityArgs
    self.config = config
    self.result = result
  }

  init(json: JSON, source: String) throws {
    guard json["kind"]?.stringValue == Self.kind, let cid = json["containerId"]?.stringValue,
      let ifName = json["ifName"]?.stringValue, let config = json["config"], config != .null
    else {
      throw LiftoffError(.internal, "cni cache \(source): not a \(Self.kind) record")
    }
    containerID = cid
    self.ifName = ifName
    netnsPath = json["netns"]?.stringValue ?? ""
    cniArgs = json["cniArgs"]?.stringValue ?? ""
    capabilityArgs = Dictionary((json["capabilityArgs"]?.objectValue ?? []).map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    self.config = config
    let r = json["result"]
    result = (r == nil || r == .null) ? nil : r
  }
}

public struct CNIResultCache: Sendable {
  public var root: String

  public init(root: String) { self.root = root }

  func path(network: String, containerID: String, ifName: String) -> String {
    "\(root)/results/\(network)/\(containerID)-\(ifName).json"
  }

  func write(_ entry: CNICacheEntry, network: String) throws {
    let p = path(network: network, containerID: entry.containerID, ifName: entry.ifName)
    try FileSystem.makeDirectories(FileSystem.parent(of: p), mode: 0o700)
    try FileSystem.writeAtomically(p, entry.json.serialized(), mode: 0o600)
  }

  func read(network: String, containerID: String, ifName: String) throws -> CNICacheEntry? {
    let p = path(network: network, containerID: containerID, ifName: ifName)
    guard let data = FileManager.default.contents(atPath: p) else { return nil }
    return try CNICacheEntry(json: JSON.parse(data, what: "cni cache \(p)"), source: p)
  }

  func remove(network: String, containerID: String, ifName: String) throws {
    // The removal made durable, as the write was; absent is fine.
    let p = path(network: network, containerID: containerID, ifName: ifName)
    if unlink(p) != 0 && errno != ENOENT { throw SystemCallError("unlink", errno: errno, path: p) }
    FileSystem.fsyncDirectory(of: p)
  }

  /// Networks that hold a record for this container and interface.
  func networks(containerID: String, ifName: String) -> [String] {
    allNetworks().filter {
      FileManager.default.fileExists(atPath: path(network: $0, containerID: containerID, ifName: ifName))
    }
  }

  func allNetworks() -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: root + "/results")) ?? []).filter { !$0.hasPrefix(".") }
      .sorted()
  }

  /// Every record, with its network; unreadable records are skipped (and reported by `problems`).
  func all() -> (entries: [(network: String, entry: CNICacheEntry)], problems: [String]) {
    var entries: [(String, CNICacheEntry)] = []
    var problems: [String] = []
    for net in allNetworks() {
      let dir = "\(root)/results/\(net)"
      for name in ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
      where name.hasSuffix(".json") && !name.hasPrefix(".") {
        let p = dir + "/" + name
        do {
          guard let data = FileManager.default.contents(atPath: p) else { continue }
          entries.append((net, try CNICacheEntry(json: JSON.parse(data, what: "cni cache \(p)"), source: p)))
        } catch {
          problems.append("\(error)")
        }
      }
    }
    return (entries, problems)
  }
}
