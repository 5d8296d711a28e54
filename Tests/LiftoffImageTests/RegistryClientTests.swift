// Where the registry client goes and what it sends there: redirects and token realms only to http(s)
// URLs (never AsyncHTTPClient's unix-socket schemes or file:), no https → http downgrade, a bounded
// number of redirects, and credentials only for the registry they were given for — checked against
// fake registries on 127.0.0.x (and a Unix socket) that record every request they get. And what it
// reads into memory: manifests, indexes and configs with a size cap.
import Foundation
import LiftoffCore
import Testing

@testable import LiftoffImage

#if canImport(Glibc)
  import Glibc
#endif

@Suite struct RegistryClientTests {
  func store(_ t: TempDir, hosts: RegistryHosts = RegistryHosts(configDir: nil)) throws -> ImageStore {
    try store(at: t.path, hosts: hosts)
  }

  func store(at dir: String, hosts: RegistryHosts = RegistryHosts(configDir: nil)) throws -> ImageStore {
    try ImageStore(root: dir + "/images", hosts: hosts, platform: Platform(architecture: "amd64", os: "linux"))
  }

  /// The error of a pull that must fail.
  func pullError(_ s: ImageStore, _ ref: String, credentials: RegistryCredentials? = nil) async -> LiftoffError? {
    do {
      _ = try await s.pull(ref, credentials: credentials)
      return nil
    } catch let e as LiftoffError {
      return e
    } catch {
      return LiftoffError(.internal, "\(error)")
    }
  }

  static let basic = "Basic " + Data("u:p".utf8).base64EncodedString()

  /// A blob GET answered with a redirect to a Unix socket (AsyncHTTPClient speaks HTTP over
  /// `unix://` and `http+unix://`), a file or another scheme is refused, and nothing connects to
  /// the socket — which would serve the layer if asked.
  @Test(arguments: ["unix", "http+unix", "file", "ftp"])
  func blobRedirectsOnlyToHTTP(_ kind: String) async throws {
    let t = TempDir("redirect")
    defer { t.cleanup() }
    let image = try FakeImage.make(in: t.path)
    let sock = t.path + "/docker.sock"
    let local = try FakeHTTPServer(unixPath: sock) { _ in .bytes(image.layer) }
    defer { local.stop() }
    let location: String
    switch kind {
    case "unix": location = "unix://\(sock)"
    case "http+unix": location = "http+unix://\(sock.replacingOccurrences(of: "/", with: "%2F"))/v2/blob"
    case "file": location = "file:///etc/passwd"
    default: location = "ftp://127.0.0.1/layer"
    }
    let registry = try FakeHTTPServer { r in
      if r.path == "/v2/test/img/blobs/\(image.layerDigest)" { return .redirect(location) }
      return image.answer(r, repo: "test/img") ?? .notFound
    }
    defer { registry.stop() }
    let e = await pullError(try store(t), "\(registry.address)/test/img")
    #expect(e?.message.contains("refused: only http and https URLs are followed") == true, "\(String(describing: e))")
    #expect(e?.message.contains(location) == true || kind == "http+unix", "\(String(describing: e))")
    #expect(local.connections == 0, "the client connected to the Unix socket \(sock)")
    #expect(FileSystem.list(t.path + "/images/layers").isEmpty)
  }

  /// A token realm is a URL the registry names: the same rule applies, and a realm on a Unix socket
  /// gets no connection (let alone the credentials).
  @Test(arguments: ["unix", "file"])
  func tokenRealmOnlyHTTP(_ kind: String) async throws {
    let t = TempDir("realm")
    defer { t.cleanup() }
    let sock = t.path + "/token.sock"
    let local = try FakeHTTPServer(unixPath: sock) { _ in .json(#"{"token":"t"}"#) }
    defer { local.stop() }
    let realm = kind == "unix" ? "unix://\(sock)" : "file:///etc/passwd"
    let registry = try FakeHTTPServer { _ in
      FakeHTTPServer.Response(status: 401, headers: [("WWW-Authenticate", #"Bearer realm="\#(realm)",service="fake""#)])
    }
    defer { registry.stop() }
    let e = await pullError(try store(t), "\(registry.address)/test/img", credentials: RegistryCredentials(username: "u", password: "p"))
    #expect(e?.message.contains("token realm to \"\(realm)\" refused") == true, "\(String(describing: e))")
    #expect(local.connections == 0)
  }

  /// A registry that redirects a blob to itself forever: stopped after 10 redirects.
  @Test func redirectLoopsAreBounded() async throws {
    let t = TempDir("redirect")
    defer { t.cleanup() }
    let image = try FakeImage.make(in: t.path)
    let registry = try FakeHTTPServer { r in
      if r.path.hasPrefix("/loop/") || r.path == "/v2/test/img/blobs/\(image.layerDigest)" {
        return .redirect("/loop/\(UInt32.random(in: 0...UInt32.max))")
      }
      return image.answer(r, repo: "test/img") ?? .notFound
    }
    defer { registry.stop() }
    let e = await pullError(try store(t), "\(registry.address)/test/img")
    #expect(e?.message.contains("more than 10 redirects") == true, "\(String(describing: e))")
    #expect(registry.requests.filter { $0.path.hasPrefix("/loop/") }.count == 10)
  }

  /// Basic credentials for the registry: sent to it, and to a redirect to its own origin; never to
  /// object storage on another host, never to a mirror, and not at all when server_address names
  /// another registry.
  @Test func credentialsGoOnlyToTheRegistryTheyWereGivenFor() async throws {
    let t = TempDir("creds")
    defer { t.cleanup() }
    let image = try FakeImage.make(in: t.path)
    // Object storage on another host: serves the layer to anyone.
    let storage = try FakeHTTPServer(host: "127.0.0.2") { _ in .bytes(image.layer) }
    defer { storage.stop() }
    let registry = try FakeHTTPServer { r in
      guard r.headers["authorization"] == Self.basic else {
        return FakeHTTPServer.Response(status: 401, headers: [("WWW-Authenticate", #"Basic realm="fake""#)])
      }
      // The config through a redirect to the registry's own origin, which wants the credentials too.
      if r.path == "/v2/test/img/blobs/\(image.configDigest)" { return .redirect("/own-storage/config") }
      if r.path == "/own-storage/config" { return .bytes(image.config) }
      if r.path == "/v2/test/img/blobs/\(image.layerDigest)" { return .redirect("http://\(storage.address)/layer?sig=1") }
      return image.answer(r, repo: "test/img") ?? .notFound
    }
    defer { registry.stop() }
    let creds = RegistryCredentials(username: "u", password: "p")
    // A mirror (another host) that asks for credentials gets none; the server serves the pull.
    let mirror = try FakeHTTPServer(host: "127.0.0.3") { _ in
      FakeHTTPServer.Response(status: 401, headers: [("WWW-Authenticate", #"Basic realm="mirror""#)])
    }
    defer { mirror.stop() }
    let certs = t.sub("certs.d")
    try FileSystem.makeDirectories("\(certs)/\(registry.address)")
    try """
      server = "http://\(registry.address)"
      [host."http://\(mirror.address)"]
        capabilities = ["pull", "resolve"]
      """.write(toFile: "\(certs)/\(registry.address)/hosts.toml", atomically: true, encoding: .utf8)
    let t2 = TempDir("creds")
    defer { t2.cleanup() }
    let viaMirror = await pullError(try store(t2, hosts: RegistryHosts(configDir: certs)), "\(registry.address)/test/img", credentials: creds)
    #expect(viaMirror == nil, "\(String(describing: viaMirror))")
    #expect(!mirror.requests.isEmpty)
    #expect(mirror.requests.allSatisfy { $0.headers["authorization"] == nil }, "the mirror got \(mirror.requests)")

    // Direct: the registry and its own origin get the credentials, object storage does not.
    let t1 = TempDir("creds")
    defer { t1.cleanup() }
    let img = try await store(t1).pull("\(registry.address)/test/img", credentials: creds)
    #expect(try String(contentsOfFile: img.layerDirs[0] + "/hello", encoding: .utf8) == "hello from a fake registry\n")
    #expect(registry.requests.contains { $0.path == "/own-storage/config" && $0.headers["authorization"] == Self.basic })
    #expect(!storage.requests.isEmpty)
    #expect(storage.requests.allSatisfy { $0.headers["authorization"] == nil }, "\(storage.requests)")

    // Credentials for another registry (CRI server_address) are not sent here at all.
    let before = registry.requests.count
    let t3 = TempDir("creds")
    defer { t3.cleanup() }
    let other = RegistryCredentials(username: "u", password: "p", serverAddress: "https://registry.example.com/v1/")
    let e = await pullError(try store(t3), "\(registry.address)/test/img", credentials: other)
    #expect(e?.code == .permissionDenied, "\(String(describing: e))")
    #expect(registry.requests.dropFirst(before).allSatisfy { $0.headers["authorization"] == nil })
    // …while a server_address naming this registry (as a URL) is honoured.
    let t4 = TempDir("creds")
    defer { t4.cleanup() }
    let same = RegistryCredentials(username: "u", password: "p", serverAddress: "http://\(registry.address)/")
    _ = try await store(t4).pull("\(registry.address)/test/img", credentials: same)
  }

  @Test func redirectAndRealmRules() throws {
    func check(_ to: String, from: String, insecure: Bool = false) -> Bool {
      (try? RegistryClient.checkTarget(URL(string: to)!, from: URL(string: from)!, insecureHTTP: insecure, what: "x")) != nil
    }
    #expect(check("https://cdn.example/blob?sig=1", from: "https://registry.example/v2/a/blobs/x"))
    #expect(check("http://cdn.example/blob", from: "http://127.0.0.1:5000/v2/a/blobs/x"))
    // No downgrade from https, unless plain HTTP is allowed everywhere.
    #expect(!check("http://cdn.example/blob", from: "https://registry.example/v2/"))
    #expect(check("http://cdn.example/blob", from: "https://registry.example/v2/", insecure: true))
    for bad in ["unix:///run/docker.sock", "http+unix://%2Frun%2Fdocker.sock/x", "https+unix://%2Fs/x", "file:///etc/shadow", "ftp://h/x", "gopher://h/"] {
      #expect(!check(bad, from: "http://127.0.0.1:5000/v2/", insecure: true), "\(bad)")
    }
    let ep = RegistryEndpoint(scheme: "https", authority: "registry.example", registry: "registry.example")
    #expect(RegistryClient.sameOrigin(URL(string: "https://registry.example/x")!, ep))
    #expect(RegistryClient.sameOrigin(URL(string: "https://REGISTRY.example:443/x")!, ep))
    #expect(!RegistryClient.sameOrigin(URL(string: "http://registry.example/x")!, ep))
    #expect(!RegistryClient.sameOrigin(URL(string: "https://registry.example:8443/x")!, ep))
    #expect(!RegistryClient.sameOrigin(URL(string: "https://registry.example.evil/x")!, ep))
    // server_address forms kubelet and users send.
    let c = { (a: String) in RegistryCredentials(username: "u", password: "p", serverAddress: a) }
    #expect(c("https://index.docker.io/v1/").apply(to: "docker.io"))
    #expect(c("registry-1.docker.io").apply(to: "docker.io"))
    #expect(c("quay.io").apply(to: "quay.io") && !c("quay.io").apply(to: "docker.io"))
    #expect(c("https://127.0.0.1:5000").apply(to: "127.0.0.1:5000") && !c("127.0.0.1:5001").apply(to: "127.0.0.1:5000"))
    #expect(RegistryCredentials(username: "u", password: "p").apply(to: "anything.example"))
  }

  /// A 5 MiB manifest and a 9 MiB config (real ones are a few KiB): refused with the blob and the
  /// limit named; the config is not even fetched. The same caps for an OCI layout on disk.
  @Test func manifestsAndConfigsHaveASizeCap() async throws {
    let t = TempDir("caps")
    defer { t.cleanup() }
    let bigManifest = try FakeImage.make(in: t.sub("m"), manifestPadding: 5 << 20)
    let r1 = try FakeHTTPServer { bigManifest.answer($0, repo: "test/img") ?? .notFound }
    defer { r1.stop() }
    let e1 = await pullError(try store(at: t.sub("s1")), "\(r1.address)/test/img")
    #expect(e1?.message.hasPrefix("manifest \(r1.address)/test/img:latest from http://\(r1.address)/v2 is \(bigManifest.manifest.count) bytes, over the 4 MiB limit for manifests and indexes") == true, "\(String(describing: e1))")

    let bigConfig = try FakeImage.make(in: t.sub("c"), configPadding: 9 << 20)
    let r2 = try FakeHTTPServer { bigConfig.answer($0, repo: "test/img") ?? .notFound }
    defer { r2.stop() }
    let s2 = try store(at: t.sub("s2"))
    let e2 = await pullError(s2, "\(r2.address)/test/img")
    #expect(e2?.message == "config \(bigConfig.configDigest) of \(r2.address)/test/img:latest is \(bigConfig.config.count) bytes, over the 8 MiB limit for image configs", "\(String(describing: e2))")
    #expect(!r2.requests.contains { $0.path.hasSuffix(bigConfig.configDigest) })
    #expect(!s2.content.has(try Digest(bigConfig.configDigest)))
    #expect(s2.list().isEmpty)

    // A descriptor that understates the config: the download stops at the declared size.
    let lying = try FakeImage.make(in: t.sub("l"))
    let r3 = try FakeHTTPServer { r in
      if r.path.hasSuffix(lying.configDigest) { return .bytes(lying.config + Array(repeating: 0x20, count: 9 << 20)) }
      return lying.answer(r, repo: "test/img") ?? .notFound
    }
    defer { r3.stop() }
    let e3 = await pullError(try store(at: t.sub("s3")), "\(r3.address)/test/img")
    #expect(e3?.message.contains("more than the \(lying.config.count) bytes its descriptor declares") == true, "\(String(describing: e3))")

    // From an OCI layout: the same limits.
    try bigConfig.writeLayout(to: t.path + "/layout-config")
    let s4 = try store(at: t.sub("s4"))
    do {
      _ = try await s4.importOCILayout(t.path + "/layout-config", tag: nil)
      Issue.record("a layout with a 9 MiB config was imported")
    } catch let e as LiftoffError {
      #expect(e.message == "oci-layout:\(t.path)/layout-config: blob \(bigConfig.configDigest) is \(bigConfig.config.count) bytes, over the 8 MiB limit for image configs", "\(e)")
    }
    try bigManifest.writeLayout(to: t.path + "/layout-manifest")
    do {
      _ = try await s4.importOCILayout(t.path + "/layout-manifest", tag: nil)
      Issue.record("a layout with a 5 MiB manifest was imported")
    } catch let e as LiftoffError {
      #expect(e.message.hasSuffix("over the 4 MiB limit for manifests and indexes"), "\(e)")
    }
    #expect(s4.list().isEmpty)
  }
}
