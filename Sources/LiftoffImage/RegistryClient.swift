// A client of the OCI distribution spec v1.1 / Docker Registry HTTP API v2, for pulls:
//   GET /v2/<name>/manifests/<reference>   (Accept: OCI index/manifest, Docker list/manifest)
//   GET /v2/<name>/blobs/<digest>          (redirects followed by hand, see below)
// Auth: on 401 the `WWW-Authenticate` challenge decides — `Bearer realm=…,service=…,scope=…` gets a
// token from the realm (anonymously, or with basic credentials; `identitytoken` as OAuth2 refresh
// token), `Basic` sends the credentials. Retries with backoff on 5xx, 429 and dropped connections.
// Endpoints (mirrors, then the server) come from RegistryHosts and are tried in order.
//
// Where requests may go and what they carry (containerd's remotes/docker rules, a little stricter):
// - A redirect (blob GET → object storage) and a token realm must be http or https — never
//   AsyncHTTPClient's unix-socket schemes, file: or anything else — and plain http only from a
//   plain-http endpoint or with --insecure-options=http: an https registry cannot downgrade us. At
//   most 10 redirects (containerd's limit).
// - The pull's credentials (basic, registry token, identity token) belong to the image's registry:
//   they go to its server endpoint (and a mirror at the same authority), never to another mirror,
//   and not at all when the CRI AuthConfig's server_address names another registry. A token or
//   basic header answered for an endpoint goes to that endpoint's origin only: a redirect to the
//   same scheme://host:port gets it, a redirect anywhere else gets nothing of ours.
// - A token realm gets the basic credentials or identity token (it may be another host, as
//   auth.docker.io is for registry-1.docker.io): that is the token protocol, as in containerd.
import AsyncHTTPClient
import Foundation
import LiftoffCatalog
import LiftoffCore
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

final class RegistryClient: Sendable {
  let reference: ImageReference
  let endpoints: [RegistryEndpoint]
  let credentials: RegistryCredentials?
  /// --insecure-options=http: plain HTTP is allowed to every host, redirects and realms included.
  let insecureHTTP: Bool
  let clients: [HTTPClient]
  /// Authorization header per endpoint authority, once a challenge was answered.
  let auth = Mutex<[String: String]>([:])
  /// Endpoints that could not be reached at all; later requests skip them.
  let unreachable = Mutex<Set<Int>>([])
  static let attempts = 4
  /// Redirects followed for one blob GET (containerd's limit).
  static let maxRedirects = 10

  init(reference: ImageReference, hosts: RegistryHosts, credentials: RegistryCredentials?) throws {
    self.reference = reference
    self.endpoints = try hosts.endpoints(for: reference.registry)
    self.credentials = credentials
    self.insecureHTTP = hosts.insecure.contains(.http)
    var clients: [HTTPClient] = []
    for ep in endpoints {
      var tls = TLSConfiguration.makeClientConfiguration()
      if ep.skipVerify { tls.certificateVerification = .none }
      if !ep.caFiles.isEmpty { tls.additionalTrustRoots = ep.caFiles.map { .file($0) } }
      var cfg = HTTPClient.Configuration(
        tlsConfiguration: tls, redirectConfiguration: .disallow,
        timeout: .init(connect: .seconds(15), read: .seconds(60)), decompression: .disabled)
      cfg.connectionPool = .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
      // Fail a request on a refused connection instead of retrying until its (long) deadline: our
      // own retries and the next endpoint take over.
      cfg.connectionPool.retryConnectionEstablishment = false
      clients.append(HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: cfg))
    }
    self.clients = clients
  }

  func shutdown() async {
    for c in clients { try? await c.shutdown() }
  }

  var repository: String { reference.repository }
  var scope: String { "repository:\(repository):pull" }

  // MARK: manifests

  struct FetchedManifest {
    var data: Data
    var mediaType: String
    var digest: Digest
  }

  /// Fetches the manifest `ref` (a tag or digest), trying the endpoints allowed to serve it.
  /// A digest reference is verified against the content.
  func manifest(_ ref: String) async throws -> FetchedManifest {
    let pinned = try? Digest(ref)
    let usable = endpoints.indices.filter { pinned != nil ? endpoints[$0].canPull : endpoints[$0].canResolve }
    var errors: [String] = []
    for i in usable {
      do {
        let resp = try await request(i, path: "/\(repository)/manifests/\(ref)", accept: MediaType.acceptedManifests)
        guard resp.status == .ok else {
          let body = try? await resp.body.collect(upTo: 4096)
          throw statusError(resp.status, what: "manifest \(reference.name):\(ref)", endpoint: endpoints[i],
                            body: body.map { String(buffer: $0) })
        }
        let what = "manifest \(reference.name):\(ref) from \(endpoints[i])"
        let limit = ContentStore.Limit.manifest
        if let declared = resp.headers.first(name: "Content-Length").flatMap({ Int64($0) }) { try limit.check(declared, what) }
        let buf: ByteBuffer
        do { buf = try await resp.body.collect(upTo: limit.bytes) } catch is NIOTooManyBytesError {
          throw LiftoffError.invalidArgument("\(what) is over the \(limit.bytes >> 20) MiB limit for \(limit.name)")
        }
        let data = Data(buf.readableBytesView)
        let digest = ContentStore.sha256(data)
        if let pinned, pinned != digest {
          throw LiftoffError.invalidArgument("manifest \(reference.name)@\(pinned) from \(endpoints[i]): content digest is \(digest)")
        }
        var mediaType = resp.headers.first(name: "Content-Type")?.split(separator: ";").first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
        if let probe = try? decodeJSON(ManifestProbe.self, from: data), let declared = probe.effectiveMediaType,
          mediaType.isEmpty || !(MediaType.manifests.contains(mediaType) || MediaType.indexes.contains(mediaType)) || probe.mediaType != nil {
          mediaType = declared
        }
        return FetchedManifest(data: data, mediaType: mediaType, digest: digest)
      } catch let e as LiftoffError where e.code == .notFound && i != usable.last {
        errors.append("\(endpoints[i]): \(e.message)")
      } catch let e as LiftoffError where e.code == .permissionDenied || e.code == .invalidArgument {
        throw e
      } catch {
        errors.append("\(endpoints[i]): \(error)")
        if i == usable.last { break }
      }
    }
    if errors.isEmpty { throw LiftoffError.notFound("no endpoint of \(reference.registry) may serve manifest \(ref)") }
    let notFound = errors.allSatisfy { $0.contains("not found") }
    throw LiftoffError(notFound ? .notFound : .unavailable, "pull \(reference): \(errors.joined(separator: "; "))")
  }

  // MARK: blobs

  /// Streams blob `desc` into `sink`, trying the endpoints that may serve pulls. `sink` is called with
  /// each chunk; `restart` is called before a retry starts the blob again from the beginning.
  func blob(_ desc: Descriptor, restart: () throws -> Void, sink: (ByteBuffer) throws -> Void) async throws {
    let dead = unreachable.withLock { $0 }
    var usable = endpoints.indices.filter { endpoints[$0].canPull && !dead.contains($0) }
    if usable.isEmpty { usable = endpoints.indices.filter { endpoints[$0].canPull } }
    var errors: [String] = []
    var first = true
    for i in usable {
      for attempt in 0..<RegistryClient.attempts {
        do {
          if !first { try restart() }
          first = false
          var resp = try await request(i, path: "/\(repository)/blobs/\(desc.digest)", accept: nil)
          var current = endpointURL(i, path: "/\(repository)/blobs/\(desc.digest)")
          var hops = 0
          while [.movedPermanently, .found, .seeOther, .temporaryRedirect, .permanentRedirect].contains(resp.status) {
            hops += 1
            let what = "blob \(desc.digest) from \(endpoints[i])"
            guard hops <= RegistryClient.maxRedirects else {
              throw LiftoffError.invalidArgument("\(what): more than \(RegistryClient.maxRedirects) redirects")
            }
            guard let loc = resp.headers.first(name: "Location"), let target = URL(string: loc, relativeTo: current)?.absoluteURL else {
              throw LiftoffError.invalidArgument("\(what): redirect without a usable Location")
            }
            _ = try? await resp.body.collect(upTo: 65536)
            try checkTarget(target, from: current, what: "\(what): redirect")
            current = target
            var req = HTTPClientRequest(url: target.absoluteString)
            req.method = .GET
            // Our Authorization (and the endpoint's configured headers) only to the endpoint's own
            // origin; object storage elsewhere authenticates by its signed URL.
            if RegistryClient.sameOrigin(target, endpoints[i]) {
              for (k, v) in endpoints[i].headers { req.headers.add(name: k, value: v) }
              if let a = auth.withLock({ $0[endpoints[i].authority] }) { req.headers.add(name: "Authorization", value: a) }
            }
            resp = try await clients[i].execute(req, timeout: .hours(6))
          }
          guard resp.status == .ok else {
            let body = try? await resp.body.collect(upTo: 4096)
            let e = statusError(resp.status, what: "blob \(desc.digest)", endpoint: endpoints[i], body: body.map { String(buffer: $0) })
            if RegistryClient.retryable(resp.status) && attempt + 1 < RegistryClient.attempts {
              try await backoff(attempt)
              continue
            }
            throw e
          }
          for try await chunk in resp.body {
            do { try sink(chunk) } catch { throw SinkError(underlying: error) }
          }
          return
        } catch let e as SinkError {
          // What the caller's sink refused (a full disk, a layer over its limits) is not retried.
          throw e.underlying
        } catch let e as LiftoffError where e.code == .invalidArgument || e.code == .permissionDenied {
          throw e
        } catch let e as LiftoffError where e.code == .notFound {
          errors.append("\(endpoints[i]): \(e.message)")
          break
        } catch {
          errors.append("\(endpoints[i]): \(error)")
          if attempt + 1 < RegistryClient.attempts { try await backoff(attempt); continue }
        }
      }
    }
    throw LiftoffError(.unavailable, "blob \(desc.digest) of \(reference.name): \(errors.joined(separator: "; "))")
  }

  // MARK: requests and auth

  /// An error thrown by a blob's sink, passed through without retries.
  struct SinkError: Error { var underlying: any Error }

  func endpointURL(_ i: Int, path: String) -> URL {
    let ep = endpoints[i]
    return URL(string: "\(ep.scheme)://\(ep.authority)\(ep.apiPath)\(path)")!
  }

  /// Refuses a redirect target or token realm that is not http(s), or that is plain http when
  /// `origin` is https and plain HTTP is not allowed for every host.
  func checkTarget(_ target: URL, from origin: URL, what: String) throws {
    try RegistryClient.checkTarget(target, from: origin, insecureHTTP: insecureHTTP, what: what)
  }

  static func checkTarget(_ target: URL, from origin: URL, insecureHTTP: Bool, what: String) throws {
    let scheme = target.scheme?.lowercased() ?? ""
    guard scheme == "https" || scheme == "http", let host = target.host, !host.isEmpty else {
      throw LiftoffError.invalidArgument(
        "\(what) to \"\(target.absoluteString.prefix(200))\" refused: only http and https URLs are followed")
    }
    if scheme == "http" && origin.scheme?.lowercased() != "http" && !insecureHTTP {
      throw LiftoffError.invalidArgument(
        "\(what) to \"\(target.absoluteString.prefix(200))\" refused: plain http from an https registry (allow it with --insecure-options=http)")
    }
  }

  /// host[:port] of `url` as RegistryEndpoint spells an authority, the scheme's default port left out.
  static func authority(of url: URL) -> String? {
    guard let host = url.host?.lowercased(), !host.isEmpty else { return nil }
    let h = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
    let defaultPort = url.scheme?.lowercased() == "https" ? 443 : 80
    guard let port = url.port, port != defaultPort else { return h }
    return "\(h):\(port)"
  }

  /// Whether `url` is on `ep`'s origin: same scheme, host and port.
  static func sameOrigin(_ url: URL, _ ep: RegistryEndpoint) -> Bool {
    guard url.scheme?.lowercased() == ep.scheme.lowercased(), let a = authority(of: url),
      let b = authority(of: URL(string: "\(ep.scheme)://\(ep.authority)/")!)
    else { return false }
    return a == b
  }

  /// The pull's credentials where they may go to endpoint `i`: the registry's own server, or a
  /// mirror at the server's authority — nil for any other mirror, and for every endpoint when the
  /// credentials name another registry (CRI's server_address).
  func credentials(for i: Int) -> RegistryCredentials? {
    guard let credentials, credentials.apply(to: reference.registry) else { return nil }
    let ep = endpoints[i]
    if ep.isServer { return credentials }
    let servers = endpoints.filter(\.isServer).map(\.authority)
    return servers.contains(ep.authority) || ep.authority == reference.registry ? credentials : nil
  }

  static func retryable(_ s: HTTPResponseStatus) -> Bool { s.code >= 500 || s == .tooManyRequests }

  func backoff(_ attempt: Int) async throws {
    let ms = [200, 600, 1500, 3000][min(attempt, 3)]
    try await Task.sleep(nanoseconds: UInt64(ms) * 1_000_000)
  }

  func statusError(_ s: HTTPResponseStatus, what: String, endpoint: RegistryEndpoint, body: String?) -> LiftoffError {
    let detail = body.map { " " + $0.prefix(300).trimmingCharacters(in: .whitespacesAndNewlines) } ?? ""
    switch s.code {
    case 404: return LiftoffError.notFound("\(what) not found at \(endpoint)")
    case 401, 403: return LiftoffError(.permissionDenied, "\(what) at \(endpoint): access denied (HTTP \(s.code))\(detail)")
    default: return LiftoffError(.unavailable, "\(what) at \(endpoint): HTTP \(s.code)\(detail)")
    }
  }

  /// A GET against endpoint `i` with auth; answers one 401 challenge, retries 5xx and dropped
  /// connections. Redirects are returned to the caller.
  func request(_ i: Int, path: String, accept: [String]?) async throws -> HTTPClientResponse {
    let ep = endpoints[i]
    let url = "\(ep.scheme)://\(ep.authority)\(ep.apiPath)\(path)"
    var challenged = false
    var attempt = 0
    while true {
      var req = HTTPClientRequest(url: url)
      req.method = .GET
      for (k, v) in ep.headers { req.headers.add(name: k, value: v) }
      if let accept { req.headers.add(name: "Accept", value: accept.joined(separator: ", ")) }
      if let a = auth.withLock({ $0[ep.authority] }) { req.headers.add(name: "Authorization", value: a) }
      let resp: HTTPClientResponse
      do {
        resp = try await clients[i].execute(req, timeout: .hours(6))
      } catch {
        attempt += 1
        if attempt < RegistryClient.attempts && RegistryClient.isTransient(error) {
          try await backoff(attempt - 1)
          continue
        }
        _ = unreachable.withLock { $0.insert(i) }
        throw LiftoffError(.unavailable, "GET \(url): \(error)")
      }
      if resp.status == .unauthorized && !challenged {
        challenged = true
        let challenge = resp.headers.first(name: "WWW-Authenticate") ?? ""
        _ = try? await resp.body.collect(upTo: 65536)
        try await answer(challenge, endpoint: i)
        continue
      }
      if RegistryClient.retryable(resp.status) && attempt + 1 < RegistryClient.attempts {
        attempt += 1
        _ = try? await resp.body.collect(upTo: 65536)
        try await backoff(attempt - 1)
        continue
      }
      return resp
    }
  }

  static func isTransient(_ error: any Error) -> Bool {
    if error is NIOSSLError { return false }
    if let e = error as? HTTPClientError, e == .connectTimeout || e == .remoteConnectionClosed || e == .readTimeout
      || e == .cancelled || e == .requestStreamCancelled
    { return true }
    // Connection refused / reset surface as NIO channel errors.
    return !(error is NIOSSLError) && !(error is LiftoffError)
  }

  /// Turns a `WWW-Authenticate` challenge into an Authorization header for the endpoint.
  func answer(_ challenge: String, endpoint i: Int) async throws {
    let ep = endpoints[i]
    let parsed = RegistryClient.parseChallenge(challenge)
    let creds = credentials(for: i)
    switch parsed.scheme.lowercased() {
    case "basic":
      guard let h = creds?.basicHeader else {
        if credentials != nil && !ep.isServer {
          // Another endpoint may serve the pull; this mirror gets none of the registry's secrets
          // (and no more requests from this pull).
          _ = unreachable.withLock { $0.insert(i) }
          throw LiftoffError(.unavailable, "mirror \(ep) asks for credentials; those for \(reference.registry) are not sent to a mirror")
        }
        throw LiftoffError(.permissionDenied, "\(reference.registry) (\(ep)) requires credentials (basic auth)")
      }
      auth.withLock { $0[ep.authority] = h }
    case "bearer":
      if let t = creds?.registryToken {
        auth.withLock { $0[ep.authority] = "Bearer \(t)" }
        return
      }
      guard let realm = parsed.params["realm"], var comps = URLComponents(string: realm), let realmURL = comps.url else {
        throw LiftoffError(.permissionDenied, "\(ep): bearer challenge without a realm")
      }
      try checkTarget(realmURL, from: endpointURL(i, path: "/"), what: "\(ep): token realm")
      var items = comps.queryItems ?? []
      if let s = parsed.params["service"] { items.append(URLQueryItem(name: "service", value: s)) }
      items.append(URLQueryItem(name: "scope", value: parsed.params["scope"] ?? scope))
      comps.queryItems = items
      guard let url = comps.url else { throw LiftoffError(.permissionDenied, "\(ep): bad token realm \(realm)") }
      var req = HTTPClientRequest(url: url.absoluteString)
      if let rt = creds?.identityToken {
        // OAuth2 refresh-token grant (Docker's identity token).
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        var form = URLComponents()
        form.queryItems = [URLQueryItem(name: "grant_type", value: "refresh_token"), URLQueryItem(name: "refresh_token", value: rt),
                           URLQueryItem(name: "service", value: parsed.params["service"] ?? ""),
                           URLQueryItem(name: "scope", value: parsed.params["scope"] ?? scope),
                           URLQueryItem(name: "client_id", value: "liftoff")]
        comps.queryItems = nil
        req = HTTPClientRequest(url: comps.url!.absoluteString)
        req.method = .POST
        req.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        req.body = .bytes(ByteBuffer(string: form.percentEncodedQuery ?? ""))
      } else {
        req.method = .GET
        if let b = creds?.basicHeader { req.headers.add(name: "Authorization", value: b) }
      }
      let tokenClient = clients[i]
      let resp: HTTPClientResponse
      do { resp = try await tokenClient.execute(req, timeout: .seconds(60)) } catch {
        throw LiftoffError(.unavailable, "token request to \(realm): \(error)")
      }
      let body = try await resp.body.collect(upTo: 1 << 20)
      guard resp.status == .ok else {
        throw LiftoffError(.permissionDenied, "token request to \(realm): HTTP \(resp.status.code) \(String(buffer: body).prefix(200))")
      }
      struct Token: Decodable { var token: String?; var access_token: String? }
      guard let t = try? decodeJSON(Token.self, from: Data(body.readableBytesView)), let tok = t.token ?? t.access_token, !tok.isEmpty else {
        throw LiftoffError(.permissionDenied, "token request to \(realm): no token in the answer")
      }
      auth.withLock { $0[ep.authority] = "Bearer \(tok)" }
    default:
      throw LiftoffError(.permissionDenied, "\(ep): unsupported auth challenge \"\(challenge.prefix(100))\"")
    }
  }

  /// `Bearer realm="https://auth",service="registry",scope="repository:a:pull"` → scheme + params.
  static func parseChallenge(_ s: String) -> (scheme: String, params: [String: String]) {
    let t = s.trimmingCharacters(in: .whitespaces)
    guard let sp = t.firstIndex(of: " ") else { return (t, [:]) }
    let scheme = String(t[..<sp])
    var params: [String: String] = [:]
    var rest = t[t.index(after: sp)...]
    while !rest.isEmpty {
      rest = rest.drop { $0 == " " || $0 == "," }
      guard let eq = rest.firstIndex(of: "=") else { break }
      let key = rest[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
      rest = rest[rest.index(after: eq)...]
      var value = ""
      if rest.first == "\"" {
        rest = rest.dropFirst()
        while let c = rest.first, c != "\"" {
          if c == "\\" { rest = rest.dropFirst() }
          if let c2 = rest.first { value.append(c2); rest = rest.dropFirst() }
        }
        rest = rest.dropFirst()
      } else {
        let end = rest.firstIndex(of: ",") ?? rest.endIndex
        value = rest[..<end].trimmingCharacters(in: .whitespaces)
        rest = rest[end...]
      }
      params[key] = value
    }
    return (scheme, params)
  }
}
