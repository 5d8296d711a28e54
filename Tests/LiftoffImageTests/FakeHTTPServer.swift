// A small HTTP/1.1 server for unit tests of the registry client: listens on a 127.0.0.x address (or a
// Unix socket), answers each request from a closure and records what it received (method, path,
// headers), one request per connection (`Connection: close`). Plain blocking sockets on threads.
import Foundation
import Synchronization

@testable import LiftoffImage

#if canImport(Glibc)
  import Glibc
#endif

final class FakeHTTPServer: Sendable {
  struct Request: Sendable {
    var method: String
    var path: String
    /// Header names lowercased.
    var headers: [String: String]
  }

  struct Response: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: [UInt8] = []

    static func json(_ s: String, type: String = "application/json") -> Response {
      Response(status: 200, headers: [("Content-Type", type)], body: Array(s.utf8))
    }
    static func bytes(_ b: [UInt8]) -> Response { Response(status: 200, body: b) }
    static func redirect(_ location: String) -> Response { Response(status: 307, headers: [("Location", location)]) }
    static let notFound = Response(status: 404)
  }

  let listenFD: Int32
  /// `127.0.0.x:port`, or the socket path.
  let address: String
  private let handler: @Sendable (Request) -> Response
  private let log = Mutex<[Request]>([])
  /// Connections accepted (a Unix-socket listener may get connections that never send a request).
  private let accepted = Mutex(0)

  /// Listens on `host` (127.0.0.x), port chosen by the kernel.
  init(host: String = "127.0.0.1", handler: @escaping @Sendable (Request) -> Response) throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
    var one: Int32 = 1
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = 0
    inet_pton(AF_INET, host, &sin.sin_addr)
    let rc = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0, listen(fd, 64) == 0 else {
      let e = errno
      close(fd)
      throw POSIXError(.init(rawValue: e)!)
    }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    listenFD = fd
    address = "\(host):\(UInt16(bigEndian: sin.sin_port))"
    self.handler = handler
    start()
  }

  /// Listens on the Unix socket `path`.
  init(unixPath path: String, handler: @escaping @Sendable (Request) -> Response) throws {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
    var sun = sockaddr_un()
    sun.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &sun.sun_path) { buf in
      for (i, b) in path.utf8.prefix(buf.count - 1).enumerated() { buf[i] = b }
    }
    let rc = withUnsafePointer(to: &sun) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
    guard rc == 0, listen(fd, 64) == 0 else {
      let e = errno
      close(fd)
      throw POSIXError(.init(rawValue: e)!)
    }
    listenFD = fd
    address = path
    self.handler = handler
    start()
  }

  var requests: [Request] { log.withLock { $0 } }
  var connections: Int { accepted.withLock { $0 } }

  func stop() {
    shutdown(listenFD, Int32(SHUT_RDWR))
  }

  deinit { close(listenFD) }

  private func start() {
    let t = Thread { [self] in
      while true {
        let c = accept(listenFD, nil, nil)
        if c < 0 {
          if errno == EINTR { continue }
          return
        }
        accepted.withLock { $0 += 1 }
        Thread { [self] in serve(c) }.start()
      }
    }
    t.start()
  }

  private func serve(_ fd: Int32) {
    defer { close(fd) }
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var data: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 65536)
    var headEnd: Int?
    while headEnd == nil {
      let n = read(fd, &buf, buf.count)
      if n <= 0 { return }
      data += buf[0..<n]
      if let r = Self.find(data, [13, 10, 13, 10]) { headEnd = r }
    }
    let head = String(decoding: data[0..<headEnd!], as: UTF8.self).components(separatedBy: "\r\n")
    let first = head[0].split(separator: " ")
    guard first.count >= 2 else { return }
    var headers: [String: String] = [:]
    for line in head.dropFirst() {
      guard let colon = line.firstIndex(of: ":") else { continue }
      headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    // A request body (the token POST) is read and ignored.
    var bodyLeft = (Int(headers["content-length"] ?? "0") ?? 0) - (data.count - headEnd! - 4)
    while bodyLeft > 0 {
      let n = read(fd, &buf, min(buf.count, bodyLeft))
      if n <= 0 { break }
      bodyLeft -= n
    }
    let req = Request(method: String(first[0]), path: String(first[1]), headers: headers)
    log.withLock { $0.append(req) }
    let resp = handler(req)
    var out = "HTTP/1.1 \(resp.status) X\r\nContent-Length: \(resp.body.count)\r\nConnection: close\r\n"
    for (k, v) in resp.headers { out += "\(k): \(v)\r\n" }
    out += "\r\n"
    var bytes = Array(out.utf8)
    if req.method != "HEAD" { bytes += resp.body }
    var off = 0
    while off < bytes.count {
      let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
      if n <= 0 { return }
      off += n
    }
    shutdown(fd, Int32(SHUT_WR))
  }

  static func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
    guard hay.count >= needle.count else { return nil }
    for i in 0...(hay.count - needle.count) where Array(hay[i..<i + needle.count]) == needle { return i }
    return nil
  }
}

/// An image served by a fake registry (or written as an OCI layout): the bytes and digests of its
/// layers, config and manifest, in the OCI media types. The config's diff_ids are the layers' blob
/// digests (Liftoff keys layers by blob digests and does not re-hash diff_ids).
struct FakeImage {
  var layers: [[UInt8]]
  var config: [UInt8]
  var manifest: [UInt8]

  static func digest(_ b: [UInt8]) -> String { ContentStore.sha256(Data(b)).description }
  var layer: [UInt8] { layers[0] }
  var layerDigest: String { Self.digest(layer) }
  var configDigest: String { Self.digest(config) }
  var manifestDigest: String { Self.digest(manifest) }

  /// One layer with the file `hello` (gzip tar), unless `layers` (compressed tars) are given;
  /// `configPadding` bytes of label text make the config that much larger, `manifestPadding` the manifest.
  static func make(in dir: String, layers given: [[UInt8]]? = nil, configPadding: Int = 0, manifestPadding: Int = 0) throws -> FakeImage {
    var layers = given ?? []
    if given == nil {
      let path = dir + "/hello.tar.gz"
      try TarWriter.write([.file("hello", "hello from a fake registry\n")], to: path)
      layers = [Array(try Data(contentsOf: URL(fileURLWithPath: path)))]
    }
    let diffIDs = layers.map { "\"\(digest($0))\"" }.joined(separator: ",")
    let pad = String(repeating: "x", count: configPadding)
    let config = Array(
      #"{"architecture":"amd64","os":"linux","config":{"Labels":{"pad":"\#(pad)"}},"rootfs":{"type":"layers","diff_ids":[\#(diffIDs)]}}"#.utf8)
    let descs = layers.map { #"{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\#(digest($0))","size":\#($0.count)}"# }
    let mpad = String(repeating: "y", count: manifestPadding)
    let manifest = Array(
      #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(digest(config))","size":\#(config.count)},"layers":[\#(descs.joined(separator: ","))],"annotations":{"pad":"\#(mpad)"}}"#.utf8)
    return FakeImage(layers: layers, config: config, manifest: manifest)
  }

  /// The registry API for this image in repository `repo`: manifests by any reference, blobs by
  /// digest; nil for any other path (the caller answers those).
  func answer(_ r: FakeHTTPServer.Request, repo: String) -> FakeHTTPServer.Response? {
    if r.path.hasPrefix("/v2/\(repo)/manifests/") { return .json(String(decoding: manifest, as: UTF8.self), type: "application/vnd.oci.image.manifest.v1+json") }
    if r.path == "/v2/\(repo)/blobs/\(configDigest)" { return .bytes(config) }
    for l in layers where r.path == "/v2/\(repo)/blobs/\(Self.digest(l))" { return .bytes(l) }
    return nil
  }

  /// Writes the image as an OCI image layout in `dir`, its manifest tagged `tag`.
  func writeLayout(to dir: String, tag: String = "latest") throws {
    try FileSystem.makeDirectories(dir + "/blobs/sha256")
    for b in layers + [config, manifest] {
      try Data(b).write(to: URL(fileURLWithPath: "\(dir)/blobs/sha256/\(Self.digest(b).dropFirst(7))"))
    }
    try #"{"imageLayoutVersion":"1.0.0"}"#.write(toFile: dir + "/oci-layout", atomically: true, encoding: .utf8)
    try #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(manifestDigest)","size":\#(manifest.count),"annotations":{"org.opencontainers.image.ref.name":"\#(tag)"}}]}"#
      .write(toFile: dir + "/index.json", atomically: true, encoding: .utf8)
  }
}
