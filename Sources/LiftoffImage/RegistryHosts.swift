// Per-registry host configuration in containerd's `hosts.toml` layout (containerd
// docs/hosts.md, config_path = /etc/containerd/certs.d), read from
// `<registry-config-dir>/<host>/hosts.toml` (default /etc/liftoff/certs.d) so a user's existing files
// work unchanged:
//
//   server = "https://registry.example.com"          # the upstream; default https://<host>
//   [host."https://mirror.example.com"]                # tried in file order, before `server`
//     capabilities = ["pull", "resolve"]               # default: pull, resolve, push
//     ca = "/etc/liftoff/certs.d/mirror/ca.crt"        # string or list; relative to the host dir
//     skip_verify = false
//     override_path = false                            # true: the URL path replaces /v2
//     [host."https://mirror.example.com".header]
//       x-custom = "value"
//
// Without a file: docker.io → https://registry-1.docker.io; localhost / 127.0.0.0/8 / ::1 → plain
// HTTP (as containerd's MatchLocalhost); anything else HTTPS with the system trust store.
// `--insecure-options=http` allows plain HTTP for every host, `tls` skips certificate checks.
import Foundation
import LiftoffCore
import TOMLKit

/// One endpoint of a registry: scheme + authority (+ path) and how to talk to it.
public struct RegistryEndpoint: Sendable, Equatable, CustomStringConvertible {
  public var scheme: String
  public var authority: String
  /// The API root path, `/v2` unless `override_path` gave another one.
  public var apiPath: String
  public var canPull: Bool
  public var canResolve: Bool
  public var caFiles: [String]
  public var skipVerify: Bool
  public var headers: [String: String]
  /// The registry name this endpoint serves (the `<host>` of certs.d), for credentials and errors.
  public var registry: String
  /// The registry's own server (hosts.toml `server`, or the default), not a mirror: the pull's
  /// credentials go only here (and to a mirror at the same authority).
  public var isServer: Bool

  public var description: String { "\(scheme)://\(authority)\(apiPath)" }

  public init(scheme: String, authority: String, apiPath: String = "/v2", canPull: Bool = true, canResolve: Bool = true,
              caFiles: [String] = [], skipVerify: Bool = false, headers: [String: String] = [:], registry: String,
              isServer: Bool = false) {
    self.scheme = scheme
    self.authority = authority
    self.apiPath = apiPath
    self.canPull = canPull
    self.canResolve = canResolve
    self.caFiles = caFiles
    self.skipVerify = skipVerify
    self.headers = headers
    self.registry = registry
    self.isServer = isServer
  }
}

/// Options that loosen transport security, as rkt's `--insecure-options`.
public struct InsecureOptions: OptionSet, Sendable {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }
  /// Allow plain HTTP to any registry.
  public static let http = InsecureOptions(rawValue: 1)
  /// Skip TLS certificate verification.
  public static let tls = InsecureOptions(rawValue: 2)

  /// Parses `http,tls` (also `none`, `all`).
  public init(parsing s: String) throws {
    var o: InsecureOptions = []
    for part in s.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !part.isEmpty {
      switch part {
      case "http": o.insert(.http)
      case "tls": o.insert(.tls)
      case "none": break
      case "all": o.formUnion([.http, .tls])
      default:
        throw LiftoffError.invalidArgument("invalid --insecure-options value \"\(part)\": want http, tls, none or all")
      }
    }
    self = o
  }
}

public struct RegistryHosts: Sendable {
  /// The directory holding `<host>/hosts.toml` (and CA files); nil for none.
  public var configDir: String?
  public var insecure: InsecureOptions

  public init(configDir: String? = "/etc/liftoff/certs.d", insecure: InsecureOptions = []) {
    self.configDir = configDir
    self.insecure = insecure
  }

  /// The endpoints to try for `registry`, in order: configured mirrors first, then the server.
  public func endpoints(for registry: String) throws -> [RegistryEndpoint] {
    var list: [RegistryEndpoint] = []
    var server = RegistryHosts.defaultServer(registry, insecure: insecure)
    if let dir = configDir {
      let hostDir = "\(dir)/\(RegistryHosts.directoryName(registry))"
      let file = "\(hostDir)/hosts.toml"
      if FileManager.default.fileExists(atPath: file) {
        let text: String
        do { text = try String(contentsOfFile: file, encoding: .utf8) } catch {
          throw LiftoffError(.invalidArgument, "read \(file): \(error)")
        }
        let parsed = try RegistryHosts.parse(text, file: file, hostDir: hostDir, registry: registry)
        list = parsed.hosts
        if let s = parsed.server { server = s }
      } else if let dir = configDir, let alt = RegistryHosts.plainCertsDir("\(dir)/\(RegistryHosts.directoryName(registry))") {
        // A certs.d directory with only *.crt files (Docker's layout): trust them for the server.
        server.caFiles = alt
      }
    }
    list.append(server)
    if insecure.contains(.tls) { for i in list.indices { list[i].skipVerify = true } }
    return list
  }

  static func directoryName(_ registry: String) -> String {
    registry == "docker.io" ? "docker.io" : registry
  }

  static func isLocalhost(_ registry: String) -> Bool {
    let host: String
    if registry.hasPrefix("[") { host = String(registry.dropFirst().prefix { $0 != "]" }) }
    else { host = String(registry.split(separator: ":", maxSplits: 1).first ?? "") }
    return host == "localhost" || host.hasPrefix("127.") || host == "::1"
  }

  static func defaultServer(_ registry: String, insecure: InsecureOptions) -> RegistryEndpoint {
    if registry == "docker.io" {
      return RegistryEndpoint(scheme: "https", authority: "registry-1.docker.io", registry: registry, isServer: true)
    }
    let plain = isLocalhost(registry) || insecure.contains(.http)
    return RegistryEndpoint(scheme: plain ? "http" : "https", authority: registry, registry: registry, isServer: true)
  }

  static func plainCertsDir(_ dir: String) -> [String]? {
    let crts = FileSystem.list(dir).filter { $0.hasSuffix(".crt") }.map { "\(dir)/\($0)" }
    return crts.isEmpty ? nil : crts
  }

  struct HostsFile: Decodable {
    var server: String?
    var capabilities: [String]?
    var ca: StringOrList?
    var skipVerify: Bool?
    var overridePath: Bool?
    var host: [String: HostEntry]?
    enum CodingKeys: String, CodingKey {
      case server, capabilities, ca, host
      case skipVerify = "skip_verify"
      case overridePath = "override_path"
    }
  }

  struct HostEntry: Decodable {
    var capabilities: [String]?
    var ca: StringOrList?
    var skipVerify: Bool?
    var overridePath: Bool?
    var header: [String: StringOrList]?
    enum CodingKeys: String, CodingKey {
      case capabilities, ca, header
      case skipVerify = "skip_verify"
      case overridePath = "override_path"
    }
  }

  struct StringOrList: Decodable {
    var values: [String]
    init(from decoder: any Decoder) throws {
      let c = try decoder.singleValueContainer()
      if let s = try? c.decode(String.self) { values = [s] } else { values = try c.decode([String].self) }
    }
  }

  /// Parses a hosts.toml. `[host."URL"]` sections keep their order in the file (TOML tables do not
  /// keep it, so the order is read from the section headers).
  static func parse(_ text: String, file: String, hostDir: String, registry: String) throws -> (server: RegistryEndpoint?, hosts: [RegistryEndpoint]) {
    let decoded: HostsFile
    do { decoded = try TOMLDecoder().decode(HostsFile.self, from: text) } catch {
      throw LiftoffError.invalidArgument("\(file): invalid hosts.toml: \(error)")
    }
    func endpoint(_ url: String, caps: [String]?, ca: StringOrList?, skip: Bool?, override: Bool?, headers: [String: StringOrList]?) throws -> RegistryEndpoint {
      guard let u = URLComponents(string: url), let scheme = u.scheme, scheme == "http" || scheme == "https",
        let host = u.host, !host.isEmpty
      else { throw LiftoffError.invalidArgument("\(file): invalid host URL \"\(url)\"") }
      let authority = (host.contains(":") ? "[\(host)]" : host) + (u.port.map { ":\($0)" } ?? "")
      var path = u.path
      while path.hasSuffix("/") { path.removeLast() }
      if override != true {
        // containerd appends /v2 unless the path already ends with it.
        if !path.hasSuffix("/v2") { path += "/v2" }
      }
      let capabilities = caps ?? ["pull", "resolve", "push"]
      for c in capabilities where !["pull", "resolve", "push"].contains(c) {
        throw LiftoffError.invalidArgument("\(file): host \(url): unknown capability \"\(c)\"")
      }
      let cas = (ca?.values ?? []).map { $0.hasPrefix("/") ? $0 : "\(hostDir)/\($0)" }
      var hs: [String: String] = [:]
      for (k, v) in headers ?? [:] { hs[k] = v.values.joined(separator: ",") }
      return RegistryEndpoint(scheme: scheme, authority: authority, apiPath: path, canPull: capabilities.contains("pull"),
                              canResolve: capabilities.contains("resolve"), caFiles: cas, skipVerify: skip ?? false,
                              headers: hs, registry: registry)
    }
    var server: RegistryEndpoint?
    if let s = decoded.server {
      server = try endpoint(s, caps: decoded.capabilities, ca: decoded.ca, skip: decoded.skipVerify, override: decoded.overridePath, headers: nil)
      server?.isServer = true
    }
    var hosts: [RegistryEndpoint] = []
    let table = decoded.host ?? [:]
    let ordered = sectionOrder(text)
    // Entries the header scan missed (unusual quoting) come after the ordered ones.
    for url in ordered.filter({ table[$0] != nil }) + table.keys.sorted().filter({ !ordered.contains($0) }) {
      let h = table[url]!
      hosts.append(try endpoint(url, caps: h.capabilities, ca: h.ca, skip: h.skipVerify, override: h.overridePath, headers: h.header))
    }
    return (server, hosts)
  }

  /// The URLs of `[host."URL"]` section headers, in file order, without duplicates.
  static func sectionOrder(_ text: String) -> [String] {
    var out: [String] = []
    for line in text.split(separator: "\n") {
      let t = line.trimmingCharacters(in: .whitespaces)
      guard t.hasPrefix("[host."), !t.hasPrefix("[[") else { continue }
      var rest = t.dropFirst("[host.".count)
      guard let q = rest.first, q == "\"" || q == "'" else { continue }
      rest = rest.dropFirst()
      guard let end = rest.firstIndex(of: q) else { continue }
      let url = String(rest[..<end])
      // `[host."URL".header]` names the same host.
      if !out.contains(url) { out.append(url) }
    }
    return out
  }
}
