// Configuration of liftoff-cri: defaults, the TOML file, and flags (a flag wins over the file).
// Names are those of shared/DESIGN.md's Configuration section; the TOML file uses the flag names as keys:
//
//   socket = "/run/liftoff/cri.sock"
//   dir = "/var/lib/liftoff"
//   log-level = "info"
//   cni-conf-dir = "/etc/cni/net.d"
//   cni-bin-dir = "/opt/cni/bin:/usr/lib/cni"
//   cni-default-network = true
//   stream-address = "127.0.0.1"
//   stream-port = 0
//   cgroup-driver = "cgroupfs"        or "systemd" (only where systemd is PID 1)
//   max-unpacked-bytes = "64GiB"      per image pulled: bytes, or K/M/G/T (KiB…TiB); an integer is bytes
//   max-unpacked-entries = 4194304    per image pulled: files, directories, links
//   trust-dir = "/etc/liftoff/trust"  image trust policy: policy.toml or policy.json, keys/
//   pinned-images = ["registry.k8s.io/pause:3.10"]   reported pinned, so kubelet's image GC keeps them
//   metrics-address = "127.0.0.1:9090"   Prometheus /metrics (off when unset)
//   image-pull-progress-timeout = "5m"   a pull with no byte received for this long is cancelled ("0": never)
//   cdi-spec-dirs = ["/etc/cdi", "/var/run/cdi"]   CDI spec directories, later ones take precedence
//   [runtime-handlers.NAME]              a RuntimeClass handler: flavor, seccomp, user-namespace
//                                        (RuntimeHandlerConfig.swift); no flag sets these
import Foundation
import LiftoffCore
import LiftoffImage
import LiftoffOS
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
  /// CNI network configuration directory (lexically first *.conflist/*.conf/*.json wins).
  public var cniConfDir: String = "/etc/cni/net.d"
  /// CNI plugin search path, colon-separated, searched in order.
  public var cniBinDir: String = "/opt/cni/bin:/usr/lib/cni"
  /// Use the embedded default network (bridge liftoff0) when the conf dir holds no configuration.
  public var cniDefaultNetwork: Bool = true
  /// Address of the streaming server (exec, attach, port-forward URLs).
  /// Registry host configuration (containerd's hosts.toml layout: <dir>/<host>/hosts.toml).
  public var registryConfigDir: String = "/etc/liftoff/certs.d"
  public var streamAddress: String = "127.0.0.1"
  /// Port of the streaming server; 0 picks a free one (the URLs carry the real port).
  public var streamPort: Int = 0
  /// PEM certificate (chain) and private key: the streaming server speaks HTTPS when both are set.
  public var streamTLSCert: String?
  public var streamTLSKey: String?
  /// The cgroup driver kubelet must match (RuntimeConfig): `cgroupfs`, or `systemd`, where pod
  /// cgroup parents are slice names (`kubepods-burstable-pod<uid>.slice`).
  public var cgroupDriver: String = "cgroupfs"
  /// Caps on what unpacking one pulled image may write (LiftoffImage's UnpackLimits).
  public var maxUnpackedBytes: Int64 = UnpackLimits.defaultMaxBytes
  public var maxUnpackedEntries: Int64 = UnpackLimits.defaultMaxEntries
  /// The image trust policy's directory (LiftoffCatalog TrustPolicy.swift), read at every PullImage
  /// and CreateContainer; no policy file in it: every image is accepted.
  public var trustDir: String = "/etc/liftoff/trust"
  /// Images ImageStatus and ListImages report as pinned (CRI `Image.pinned`), so kubelet's image GC
  /// never removes them: image references (tag or digest, normalised as Docker does) or image IDs
  /// (`sha256:<64 hex>`), each resolved to the stored image it names when asked.
  public var pinnedImages: [String] = []
  /// `HOST:PORT` (`[V6]:PORT`) of the Prometheus scrape endpoint (`GET /metrics`); nil: none.
  public var metricsAddress: String?
  /// A pull that receives no byte for this long is cancelled (containerd's image_pull_progress_timeout):
  /// a duration such as `5m`, `90s`, `1m30s`, `500ms`; `0` turns the timeout off.
  public var imagePullProgressTimeout: String = "5m"
  /// Container Device Interface spec directories (`*.json`, `*.yaml`, `*.yml`), read at every
  /// CreateContainer that asks for CDI devices; a device in a later directory overrides an earlier one.
  public var cdiSpecDirs: [String] = ["/etc/cdi", "/var/run/cdi"]
  /// The operator's runtime handlers by name, beside (or replacing) the built-in `""`, `default`, `fly`.
  public var runtimeHandlers: [String: RuntimeHandlerConfig] = [:]

  public init() {}

  /// Every handler RunPodSandbox accepts: the built-ins, then the file's (which win).
  public var effectiveRuntimeHandlers: [String: RuntimeHandlerConfig] {
    RuntimeHandlerConfig.builtIn.merging(runtimeHandlers) { $1 }
  }

  public var unpackLimits: UnpackLimits { UnpackLimits(maxBytes: maxUnpackedBytes, maxEntries: maxUnpackedEntries) }

  enum CodingKeys: String, CodingKey, CaseIterable {
    case socket
    case dir
    case logLevel = "log-level"
    case cniConfDir = "cni-conf-dir"
    case cniBinDir = "cni-bin-dir"
    case cniDefaultNetwork = "cni-default-network"
    case registryConfigDir = "registry-config-dir"
    case streamAddress = "stream-address"
    case streamPort = "stream-port"
    case streamTLSCert = "stream-tls-cert"
    case streamTLSKey = "stream-tls-key"
    case cgroupDriver = "cgroup-driver"
    case maxUnpackedBytes = "max-unpacked-bytes"
    case maxUnpackedEntries = "max-unpacked-entries"
    case trustDir = "trust-dir"
    case pinnedImages = "pinned-images"
    case metricsAddress = "metrics-address"
    case imagePullProgressTimeout = "image-pull-progress-timeout"
    case cdiSpecDirs = "cdi-spec-dirs"
    case runtimeHandlers = "runtime-handlers"
  }

  /// The CNI plugin search path as a list.
  public var cniBinDirs: [String] { cniBinDir.split(separator: ":").map(String.init) }

  /// The parsed log level; `validate()` guarantees it exists.
  public var loggerLevel: Logger.Level { Logger.Level(rawValue: logLevel) ?? .info }

  /// Checks every value; the error names the setting that is wrong. `systemdRunning`: is systemd
  /// PID 1 here (the systemd cgroup driver needs it)?
  public func validate(systemdRunning: Bool = Cgroups.systemdIsRunning) throws {
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
    guard cniConfDir.hasPrefix("/") else {
      throw LiftoffError.invalidArgument("cni-conf-dir \"\(cniConfDir)\" must be an absolute path")
    }
    guard !cniBinDirs.isEmpty, cniBinDirs.allSatisfy({ $0.hasPrefix("/") }) else {
      throw LiftoffError.invalidArgument("cni-bin-dir \"\(cniBinDir)\" must be absolute paths separated by ':'")
    }
    guard registryConfigDir.hasPrefix("/") else {
      throw LiftoffError.invalidArgument("registry-config-dir \"\(registryConfigDir)\" must be an absolute path")
    }
    for d in cdiSpecDirs where !d.hasPrefix("/") {
      throw LiftoffError.invalidArgument("cdi-spec-dirs: \"\(d)\" must be an absolute path")
    }
    guard trustDir.hasPrefix("/") else {
      throw LiftoffError.invalidArgument("trust-dir \"\(trustDir)\" must be an absolute path")
    }
    guard Self.isIPAddress(streamAddress) else {
      throw LiftoffError.invalidArgument("stream-address \"\(streamAddress)\" is not an IPv4 or IPv6 address")
    }
    if (streamTLSCert == nil) != (streamTLSKey == nil) {
      throw LiftoffError.invalidArgument("stream-tls-cert and stream-tls-key go together: give both or neither")
    }
    for path in [streamTLSCert, streamTLSKey].compactMap({ $0 }) where !FileManager.default.isReadableFile(atPath: path) {
      throw LiftoffError.invalidArgument("stream TLS file \(path) is missing or unreadable")
    }
    guard (0...65535).contains(streamPort) else {
      throw LiftoffError.invalidArgument("stream-port \(streamPort) is not in 0-65535")
    }
    guard cgroupDriver == "cgroupfs" || cgroupDriver == "systemd" else {
      throw LiftoffError.invalidArgument("cgroup-driver \"\(cgroupDriver)\" is not cgroupfs or systemd")
    }
    for ref in pinnedImages where !Self.isImageRefOrID(ref) {
      throw LiftoffError.invalidArgument(
        "pinned-images: \"\(ref)\" is neither an image reference nor an image ID (sha256:<64 hex digits>)")
    }
    if let metricsAddress, Self.hostPort(metricsAddress) == nil {
      throw LiftoffError.invalidArgument(
        "metrics-address \"\(metricsAddress)\" is not HOST:PORT with a numeric IPv4 address or a bracketed IPv6 one and a port in 0-65535")
    }
    guard Self.parseDuration(imagePullProgressTimeout) != nil else {
      throw LiftoffError.invalidArgument(
        "image-pull-progress-timeout \"\(imagePullProgressTimeout)\" is not a duration such as 5m, 90s, 1m30s, 500ms or 0")
    }
    for name in runtimeHandlers.keys.sorted() { try runtimeHandlers[name]!.validate(name: name) }
    if cgroupDriver == "systemd" && !systemdRunning {
      throw LiftoffError(
        .failedPrecondition, "cgroup-driver systemd: systemd is not PID 1 on this host (no /run/systemd/system); use cgroupfs")
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
    if let v = try string(.cniConfDir) { cniConfDir = v }
    if let v = try string(.cniBinDir) { cniBinDir = v }
    if let value = table[CodingKeys.cniDefaultNetwork.rawValue] {
      guard let b = value.bool else {
        throw LiftoffError.invalidArgument("config file \(file): \"cni-default-network\" must be true or false")
      }
      cniDefaultNetwork = b
    }
    if let v = try string(.registryConfigDir) { registryConfigDir = v }
    if let v = try string(.streamAddress) { streamAddress = v }
    if let value = table[CodingKeys.streamPort.rawValue] {
      guard let n = value.int else {
        throw LiftoffError.invalidArgument("config file \(file): \"stream-port\" must be an integer")
      }
      streamPort = n
    }
    if let v = try string(.streamTLSCert) { streamTLSCert = v }
    if let v = try string(.streamTLSKey) { streamTLSKey = v }
    if let v = try string(.cgroupDriver) { cgroupDriver = v }
    if let v = try string(.metricsAddress) { metricsAddress = v }
    if let v = try string(.imagePullProgressTimeout) { imagePullProgressTimeout = v }
    func strings(_ key: CodingKeys) throws -> [String]? {
      guard let value = table[key.rawValue] else { return nil }
      let notList = LiftoffError.invalidArgument("config file \(file): \"\(key.rawValue)\" must be a list of strings")
      guard let array = value.array else { throw notList }
      var list: [String] = []
      for element in array {
        guard let s = element.string else { throw notList }
        list.append(s)
      }
      return list
    }
    if let v = try strings(.pinnedImages) { pinnedImages = v }
    if let v = try strings(.cdiSpecDirs) { cdiSpecDirs = v }
    if let v = try string(.trustDir) { trustDir = v }
    if let value = table[CodingKeys.runtimeHandlers.rawValue] {
      guard let handlers = value.table else {
        throw LiftoffError.invalidArgument("config file \(file): \"runtime-handlers\" must be tables: [runtime-handlers.NAME]")
      }
      for name in handlers.keys.sorted() {
        guard let handler = handlers[name]?.table else {
          throw LiftoffError.invalidArgument(
            "config file \(file): runtime-handlers.\(TOMLText.quoteKeyIfNeeded(name)) must be a table ([runtime-handlers.\(TOMLText.quoteKeyIfNeeded(name))])")
        }
        runtimeHandlers[name] = try RuntimeHandlerConfig.parse(handler, name: name, file: file)
      }
    }
    for key in [CodingKeys.maxUnpackedBytes, .maxUnpackedEntries] {
      guard let value = table[key.rawValue] else { continue }
      let text: String
      if let n = value.int { text = String(n) } else if let s = value.string { text = s } else {
        throw LiftoffError.invalidArgument("config file \(file): \"\(key.rawValue)\" must be an integer or a string")
      }
      do {
        try setUnpackLimits(bytes: key == .maxUnpackedBytes ? text : nil, entries: key == .maxUnpackedEntries ? text : nil)
      } catch let e as LiftoffError {
        throw LiftoffError.invalidArgument("config file \(file): \(e.message)")
      }
    }
  }

  /// Sets max-unpacked-bytes (`64G`, `512MiB`, bytes) and max-unpacked-entries from text; errors
  /// name the setting (`prefix` + its name).
  public mutating func setUnpackLimits(bytes: String?, entries: String?, prefix: String = "") throws {
    if let bytes { maxUnpackedBytes = try UnpackLimits.parseSize(bytes, setting: prefix + CodingKeys.maxUnpackedBytes.rawValue) }
    if let entries { maxUnpackedEntries = try UnpackLimits.parseCount(entries, setting: prefix + CodingKeys.maxUnpackedEntries.rawValue) }
  }

  /// `HOST:PORT` or `[IPV6]:PORT` with a numeric address: (host, port), or nil.
  static func hostPort(_ s: String) -> (host: String, port: Int)? {
    guard let colon = s.lastIndex(of: ":"), let port = Int(s[s.index(after: colon)...]), (0...65535).contains(port) else { return nil }
    var host = String(s[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") {
      host = String(host.dropFirst().dropLast())
      guard host.contains(":") else { return nil }
    } else if host.contains(":") {
      return nil
    }
    return isIPAddress(host) ? (host, port) : nil
  }

  /// The metrics endpoint, when metrics-address is set (validate() has checked it).
  public var metricsEndpoint: (host: String, port: Int)? { metricsAddress.flatMap(Self.hostPort) }

  /// The pull stall timeout; nil when it is off (`0`). validate() has checked the text.
  public var pullProgressTimeout: Duration? {
    guard let d = Self.parseDuration(imagePullProgressTimeout), d > .zero else { return nil }
    return d
  }

  /// A duration as Go writes them (containerd's config): numbers with units h, m, s, ms, one after
  /// another (`1h30m`, `90s`, `2.5s`, `500ms`), or `0`. Negative or unitless values are nil.
  static func parseDuration(_ text: String) -> Duration? {
    if text == "0" { return .zero }
    var rest = Substring(text)
    var total = Duration.zero
    guard !rest.isEmpty else { return nil }
    while !rest.isEmpty {
      let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
      guard !number.isEmpty, let value = Double(number) else { return nil }
      rest = rest.dropFirst(number.count)
      let unit = rest.prefix { $0.isASCII && $0.isLetter }
      rest = rest.dropFirst(unit.count)
      let seconds: Double
      switch unit {
      case "h": seconds = 3600
      case "m": seconds = 60
      case "s": seconds = 1
      case "ms": seconds = 0.001
      default: return nil
      }
      total += .nanoseconds(Int64((value * seconds * 1e9).rounded()))
    }
    return total
  }

  /// A duration in the same notation (`5m0s`, `2s`, `1.5s`, `500ms`) for messages.
  static func format(_ d: Duration) -> String {
    let ns = Int64(d.components.seconds) * 1_000_000_000 + d.components.attoseconds / 1_000_000_000
    if ns < 1_000_000_000 { return "\(ns / 1_000_000)ms" }
    let minutes = ns / 60_000_000_000
    let seconds = Double(ns % 60_000_000_000) / 1e9
    let s = seconds == seconds.rounded() ? "\(Int(seconds))s" : "\(seconds)s"
    return minutes > 0 ? "\(minutes)m\(s)" : s
  }

  /// An image reference Docker's grammar accepts, or a full image ID.
  static func isImageRefOrID(_ s: String) -> Bool {
    if s.hasPrefix("sha256:") { return (try? Digest(s)) != nil }
    return (try? ImageReference(parsing: s)) != nil
  }

  /// A numeric IPv4 or IPv6 address (no host names: the URL must carry what the server binds).
  static func isIPAddress(_ s: String) -> Bool {
    var v4 = in_addr()
    var v6 = in6_addr()
    return inet_pton(AF_INET, s, &v4) == 1 || inet_pton(AF_INET6, s, &v6) == 1
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
