// A CNI network configuration list and its plugins (CNI spec 1.1.0, section 1 "Network configuration
// format"; also accepts the 0.3.0, 0.3.1, 0.4.0 and 1.0.0 versions of it). Plugin configurations are
// kept as the JSON the administrator wrote, because only the plugin knows their fields; Liftoff reads
// `type` and `capabilities` from them and adds `name`, `cniVersion`, `runtimeConfig` and `prevResult`.
import LiftoffCore

public struct CNINetworkConfigList: Sendable, Equatable {
  /// CNI versions whose result format Liftoff understands (0.1/0.2 results have another shape).
  public static let supportedVersions = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]

  public var cniVersion: String
  public var name: String
  public var disableCheck: Bool
  public var disableGC: Bool
  public var plugins: [CNIPluginConfig]
  /// Where the list came from (a file path, or "embedded default network"), for error messages.
  public var source: String

  /// Validates a configuration list document. `source` names it in every error.
  public init(json obj: JSON, source: String) throws {
    guard obj.objectValue != nil else {
      throw LiftoffError.invalidArgument("cni config \(source): top level must be a json object")
    }
    self.source = source
    guard let version = obj["cniVersion"]?.stringValue else {
      throw LiftoffError.invalidArgument("cni config \(source): missing string field \"cniVersion\"")
    }
    guard Self.supportedVersions.contains(version) else {
      throw LiftoffError.invalidArgument(
        "cni config \(source): cniVersion \"\(version)\" is not supported (supported: "
          + Self.supportedVersions.joined(separator: ", ") + ")")
    }
    cniVersion = version
    guard let name = obj["name"]?.stringValue else {
      throw LiftoffError.invalidArgument("cni config \(source): missing string field \"name\"")
    }
    guard Self.isValidName(name) else {
      throw LiftoffError.invalidArgument(
        "cni config \(source): network name \"\(name)\" must start with a letter or digit and contain only letters, digits, '_', '.' and '-'"
      )
    }
    self.name = name
    disableCheck = try Self.flag(obj, "disableCheck", source)
    disableGC = try Self.flag(obj, "disableGC", source)
    guard let list = obj["plugins"]?.arrayValue else {
      throw LiftoffError.invalidArgument("cni config \(source): missing list field \"plugins\"")
    }
    guard !list.isEmpty else {
      throw LiftoffError.invalidArgument("cni config \(source): \"plugins\" is empty")
    }
    plugins = try list.enumerated().map { i, p in
      try CNIPluginConfig(json: p, source: "\(source): plugins[\(i)]")
    }
  }

  /// Wraps a single-plugin configuration (a `.conf` file) as a list of one, as libcni does.
  public init(singlePlugin json: JSON, source: String) throws {
    guard json.objectValue != nil else {
      throw LiftoffError.invalidArgument("cni config \(source): top level must be a json object")
    }
    let list: JSON = [
      "cniVersion": json["cniVersion"] ?? .null,
      "name": json["name"] ?? .null,
      "plugins": [json],
    ]
    try self.init(json: list, source: source)
  }

  /// The whole list as JSON (what the result cache keeps, so that DEL runs the configuration that
  /// ADD ran even if the file changed since).
  public var json: JSON {
    [
      "cniVersion": .string(cniVersion),
      "name": .string(name),
      "disableCheck": .bool(disableCheck),
      "disableGC": .bool(disableGC),
      "plugins": .array(plugins.map(\.fields)),
    ]
  }

  /// True when this list's version has the STATUS and GC verbs (1.1.0 and later).
  public var hasStatusAndGC: Bool { Self.compare(cniVersion, "1.1.0") >= 0 }
  /// True when this list's version has the CHECK verb (0.4.0 and later).
  public var hasCheck: Bool { Self.compare(cniVersion, "0.4.0") >= 0 }

  static func isValidName(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, first.isASCIIAlnum else { return false }
    return s.unicodeScalars.allSatisfy { $0.isASCIIAlnum || $0 == "_" || $0 == "." || $0 == "-" }
  }

  /// Compares two dotted versions numerically ("0.4.0" < "1.0.0" < "1.1.0").
  static func compare(_ a: String, _ b: String) -> Int {
    let x = a.split(separator: ".").map { Int($0) ?? 0 }
    let y = b.split(separator: ".").map { Int($0) ?? 0 }
    for i in 0..<max(x.count, y.count) {
      let l = i < x.count ? x[i] : 0
      let r = i < y.count ? y[i] : 0
      if l != r { return l < r ? -1 : 1 }
    }
    return 0
  }

  private static func flag(_ obj: JSON, _ key: String, _ source: String) throws -> Bool {
    switch obj[key] {
    case nil, .null: return false
    case .bool(let b): return b
    case .string(let s) where s == "true" || s == "false": return s == "true"
    default: throw LiftoffError.invalidArgument("cni config \(source): \"\(key)\" must be true or false")
    }
  }
}

/// One plugin's configuration in a list.
public struct CNIPluginConfig: Sendable, Equatable {
  /// The plugin executable's file name.
  public var type: String
  /// Capabilities the plugin declares (`"capabilities": {"portMappings": true}`).
  public var capabilities: Set<String>
  /// The capabilities it declares that are on, in the order the configuration lists them.
  public var capabilityOrder: [String]
  /// The configuration object as written (its keys in the file's order).
  public var fields: JSON

  public init(json obj: JSON, source: String) throws {
    guard obj.objectValue != nil else {
      throw LiftoffError.invalidArgument("cni config \(source): must be a json object")
    }
    guard let type = obj["type"]?.stringValue, !type.isEmpty else {
      throw LiftoffError.invalidArgument("cni config \(source): missing string field \"type\"")
    }
    guard !type.contains("/"), type != ".", type != ".." else {
      throw LiftoffError.invalidArgument(
        "cni config \(source): plugin type \"\(type)\" must be a file name, not a path")
    }
    self.type = type
    var caps: [String] = []
    switch obj["capabilities"] {
    case nil, .null: break
    case .object(let c):
      for (k, v) in c {
        guard let on = v.boolValue else {
          throw LiftoffError.invalidArgument(
            "cni config \(source): capabilities.\(k) must be true or false")
        }
        if on { caps.append(k) }
      }
    default:
      throw LiftoffError.invalidArgument("cni config \(source): \"capabilities\" must be an object")
    }
    capabilities = Set(caps)
    capabilityOrder = caps
    if let ipam = obj["ipam"], ipam != .null {
      guard let ipamType = ipam["type"]?.stringValue, !ipamType.contains("/") else {
        throw LiftoffError.invalidArgument(
          "cni config \(source): ipam needs a string \"type\" that is a file name")
      }
    }
    fields = obj
  }

  /// The IPAM plugin this plugin delegates to, if any (it must be found on the plugin path too).
  public var ipamType: String? { fields["ipam"]?["type"]?.stringValue }
}

extension Unicode.Scalar {
  fileprivate var isASCIIAlnum: Bool {
    ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
  }
}
