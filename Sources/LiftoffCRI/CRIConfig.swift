// Configuration of liftoff-cri: defaults, the TOML file, and flags (a flag wins over the file).
// Names are those of shared/DESIGN.md's Configuration section; the TOML file uses the flag names as keys:
//
//   socket = "/run/liftoff/cri.sock"
//   dir = "/var/lib/liftoff"
//   log-level = "info"
import Foundation
import LiftoffCore
import Logging
import TOMLKit

public struct CRIConfig: Sendable, Equatable, Codable {
  public static let defaultConfigPath = "/etc/liftoff/cri.toml"

  /// The gRPC Unix socket kubelet and crictl connect to.
  public var socket: String = "/run/liftoff/cri.sock"
  /// Liftoff's state root (pods, images).
  public var dir: String = "/var/lib/liftoff"
  /// swift-log level: trace, debug, info, notice, warning, error, critical.
  public var logLevel: String = "info"

  public init() {}

  enum CodingKeys: String, CodingKey, CaseIterable {
    case socket
    case dir
    case logLevel = "log-level"
  }

  /// The parsed log level; `validate()` guarantees it exists.
  public var loggerLevel: Logger.Level { Logger.Level(rawValue: logLevel) ?? .info }

  /// Checks every value; the error names the setting that is wrong.
  public func validate() throws {
    guard Logger.Level(rawValue: logLevel) != nil else {
      let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
      throw LiftoffError.invalidArgument("log-level \"\(logLevel)\" is not one of \(names)")
    }
    guard socket.hasPrefix("/") else {
      throw LiftoffError.invalidArgument("socket \"\(socket)\" must be an absolute path")
    }
    guard dir.hasPrefix("/") else {
      throw LiftoffError.invalidArgument("dir \"\(dir)\" must be an absolute path")
    }
  }

  /// Applies the settings of a TOML document on top of `self`. Unknown keys and values of the wrong
  /// type are errors that name the key and the file.
  public mutating func apply(toml text: String, file: String) throws {
    let table: TOMLTable
    do {
      table = try TOMLTable(string: text)
    } catch {
      throw LiftoffError(.invalidArgument, "config file \(file) is not valid TOML: \(error)")
    }
    let known = Set(CodingKeys.allCases.map(\.rawValue))
    for key in table.keys.sorted() where !known.contains(key) {
      throw LiftoffError.invalidArgument(
        "config file \(file): unknown setting \"\(key)\" (known: \(known.sorted().joined(separator: ", ")))")
    }
    func string(_ key: CodingKeys) throws -> String? {
      guard let value = table[key.rawValue] else { return nil }
      guard let s = value.string else {
        throw LiftoffError.invalidArgument("config file \(file): \"\(key.rawValue)\" must be a string")
      }
      return s
    }
    if let v = try string(.socket) { socket = v }
    if let v = try string(.dir) { dir = v }
    if let v = try string(.logLevel) { logLevel = v }
  }

  /// Loads the file at `path` on top of the defaults. A missing file is fine only when it is the
  /// default path (a node without /etc/liftoff/cri.toml runs on defaults); a path given explicitly
  /// must exist.
  public static func load(path: String?) throws -> CRIConfig {
    var config = CRIConfig()
    let file = path ?? defaultConfigPath
    guard FileManager.default.fileExists(atPath: file) else {
      if path != nil { throw LiftoffError.notFound("config file \(file) does not exist") }
      return config
    }
    let text: String
    do {
      text = try String(contentsOfFile: file, encoding: .utf8)
    } catch {
      throw LiftoffError.invalidArgument("cannot read config file \(file): \(error.localizedDescription)")
    }
    try config.apply(toml: text, file: file)
    return config
  }
}
