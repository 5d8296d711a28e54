// Registry credentials: from a CRI AuthConfig, or for the CLI from Docker's `~/.docker/config.json`
// (`auths.<host>.auth` = base64("user:password"), or `username`/`password`, `identitytoken`,
// `registrytoken`). Docker Hub's key there is `https://index.docker.io/v1/`.
import Foundation
import LiftoffCatalog
import LiftoffCore

public struct RegistryCredentials: Sendable, Equatable {
  public var username: String?
  public var password: String?
  /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
  public var identityToken: String?
  /// A bearer token to send as is (`registrytoken`).
  public var registryToken: String?
  /// The registry these credentials are for (CRI AuthConfig `server_address`: `host[:port]`, or a URL
  /// such as `https://index.docker.io/v1/`); nil for "the registry of the image being pulled".
  public var serverAddress: String?

  public init(username: String? = nil, password: String? = nil, identityToken: String? = nil, registryToken: String? = nil,
              serverAddress: String? = nil) {
    self.username = username
    self.password = password
    self.identityToken = identityToken
    self.registryToken = registryToken
    self.serverAddress = serverAddress
  }

  /// Whether these credentials may be used for `registry` (an image reference's registry name): always
  /// without a server address, otherwise only when it names that registry (Docker Hub's aliases
  /// count as one). containerd's CRI likewise sends no credentials to a host server_address does not name.
  public func apply(to registry: String) -> Bool {
    guard let serverAddress, !serverAddress.isEmpty else { return true }
    return Self.registryName(serverAddress) == Self.registryName(registry)
  }

  /// `https://Host:5000/v1/` → `host:5000`; Docker Hub's names → `docker.io`.
  static func registryName(_ address: String) -> String {
    var s = Substring(address.lowercased())
    if let r = s.range(of: "://") { s = s[r.upperBound...] }
    let host = String(s.prefix { $0 != "/" })
    return ["index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"].contains(host) ? "docker.io" : host
  }

  /// Parses a base64 `user:password` (Docker's and CRI's `auth` field).
  public init(auth: String) throws {
    guard let d = Data(base64Encoded: auth), let s = String(data: d, encoding: .utf8), let colon = s.firstIndex(of: ":") else {
      throw LiftoffError.invalidArgument("invalid auth: want base64 of \"user:password\"")
    }
    self.init(username: String(s[..<colon]), password: String(s[s.index(after: colon)...]))
  }

  var basicHeader: String? {
    guard let username, let password else { return nil }
    return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
  }

  /// Credentials for `registry` from a Docker config file (default `$DOCKER_CONFIG/config.json` or
  /// `~/.docker/config.json`); nil when none are stored. Credential helpers are not run.
  public static func fromDockerConfig(registry: String, path: String? = nil) throws -> RegistryCredentials? {
    let file: String
    if let path { file = path }
    else if let dir = ProcessInfo.processInfo.environment["DOCKER_CONFIG"] { file = dir + "/config.json" }
    else { file = NSHomeDirectory() + "/.docker/config.json" }
    guard let data = FileManager.default.contents(atPath: file) else { return nil }
    struct Entry: Decodable {
      var auth: String?, username: String?, password: String?, identitytoken: String?, registrytoken: String?
    }
    struct Config: Decodable { var auths: [String: Entry]? }
    let cfg: Config
    do { cfg = try decodeJSON(Config.self, from: data) } catch {
      throw LiftoffError.invalidArgument("\(file): invalid docker config: \(error)")
    }
    let keys = registry == "docker.io"
      ? ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
      : [registry, "https://\(registry)", "http://\(registry)", "https://\(registry)/v1/", "https://\(registry)/v2/"]
    for k in keys {
      guard let e = cfg.auths?[k] else { continue }
      var c = RegistryCredentials(username: e.username, password: e.password, identityToken: e.identitytoken, registryToken: e.registrytoken)
      if let a = e.auth, !a.isEmpty {
        let b = try RegistryCredentials(auth: a)
        c.username = b.username
        c.password = b.password
      }
      return c
    }
    return nil
  }
}
