// image-pull-progress-timeout through a real liftoff-cri and a real gRPC client, against a registry
// on 127.0.0.1 that this test serves itself: it answers the manifest and the config, then sends the
// first kilobyte of the layer and stalls. The pull must fail with DEADLINE_EXCEEDED once no byte has
// come for the timeout, and the server must go on serving. Plus the duration setting's parsing.
import Crypto
import Foundation
import GRPCCore
@testable import LiftoffCRI
import LiftoffCore
import Testing

/// A registry (Distribution API v2, plain HTTP) that serves one image, `stall:latest`, whose layer
/// blob it never finishes: each connection is served by a thread; `stop()` closes everything.
final class StallingRegistry: @unchecked Sendable {
  let listener: Int32
  let port: Int
  private let lock = NSLock()
  private var connections: [Int32] = []
  private var stopped = false
  /// Bytes of the layer sent before the stall.
  let sentBeforeStall = 1024

  let layer = [UInt8](repeating: 0x5a, count: 1 << 20)
  let config: [UInt8]
  let manifest: [UInt8]

  static func digest(_ bytes: [UInt8]) -> String {
    "sha256:" + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
  }

  init() throws {
    config = Array(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":["\#(Self.digest(layer))"]},"config":{}}"#.utf8)
    manifest = Array("""
      {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
       "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(Self.digest(config))","size":\(config.count)},
       "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"\(Self.digest(layer))","size":\(layer.count)}]}
      """.utf8)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
    guard bound == 0, listen(fd, 16) == 0 else {
      close(fd)
      throw LiftoffError.internal("stalling registry: bind/listen failed")
    }
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
    listener = fd
    port = Int(UInt16(bigEndian: addr.sin_port))
    Thread.detachNewThread { self.acceptLoop() }
  }

  func stop() {
    lock.lock()
    stopped = true
    let open = connections
    connections = []
    lock.unlock()
    shutdown(listener, Int32(SHUT_RDWR))
    close(listener)
    for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
  }

  private func acceptLoop() {
    while true {
      let fd = accept(listener, nil, nil)
      if fd < 0 { return }
      lock.lock()
      if stopped {
        lock.unlock()
        close(fd)
        return
      }
      connections.append(fd)
      lock.unlock()
      Thread.detachNewThread { self.serve(fd) }
    }
  }

  private func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    var off = 0
    while off < bytes.count {
      let n = bytes[off...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
      if n <= 0 { return false }
      off += n
    }
    return true
  }

  private func serve(_ fd: Int32) {
    defer { close(fd) }
    var buffer: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
      // One request head (these clients send no request bodies).
      while true {
        if let end = findHeadEnd(buffer) {
          let head = String(decoding: buffer[..<end], as: UTF8.self)
          buffer.removeFirst(end + 4)
          if !respond(fd, head) { return }
          break
        }
        let n = read(fd, &chunk, chunk.count)
        if n <= 0 { return }
        buffer += chunk[..<n]
      }
    }
  }

  private func findHeadEnd(_ b: [UInt8]) -> Int? {
    guard b.count >= 4 else { return nil }
    for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
    return nil
  }

  /// Answers one request; false ends the connection.
  private func respond(_ fd: Int32, _ head: String) -> Bool {
    let parts = head.split(separator: "\r\n").first?.split(separator: " ") ?? []
    guard parts.count >= 2 else { return false }
    let method = String(parts[0]), path = String(parts[1])
    func reply(_ status: String, _ body: [UInt8], _ headers: [String] = [], bodyBytes: Int? = nil) -> Bool {
      var h = "HTTP/1.1 \(status)\r\nContent-Length: \(body.count)\r\n" + headers.map { $0 + "\r\n" }.joined() + "\r\n"
      if let bodyBytes { h = h.replacingOccurrences(of: "Content-Length: \(body.count)", with: "Content-Length: \(bodyBytes)") }
      return send(fd, Array(h.utf8)) && (method == "HEAD" || send(fd, body))
    }
    switch path {
    case "/v2/", "/v2":
      return reply("200 OK", Array("{}".utf8), ["Content-Type: application/json"])
    case "/v2/stall/manifests/latest", "/v2/stall/manifests/\(Self.digest(manifest))":
      return reply("200 OK", manifest, [
        "Content-Type: application/vnd.oci.image.manifest.v1+json", "Docker-Content-Digest: \(Self.digest(manifest))",
      ])
    case "/v2/stall/blobs/\(Self.digest(config))":
      return reply("200 OK", config, ["Content-Type: application/octet-stream"])
    case "/v2/stall/blobs/\(Self.digest(layer))":
      // The first kilobyte, then nothing until the test ends (the connection stays open).
      guard reply("200 OK", Array(layer[..<sentBeforeStall]), ["Content-Type: application/octet-stream"], bodyBytes: layer.count) else {
        return false
      }
      var b: UInt8 = 0
      while read(fd, &b, 1) > 0 {}
      return false
    default:
      return reply("404 Not Found", Array(#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#.utf8), ["Content-Type: application/json"])
    }
  }
}

@Suite(.serialized) struct PullProgressTimeoutTests {
  @Test func stalledPullIsCancelled() async throws {
    let registry = try StallingRegistry()
    defer { registry.stop() }
    let server = try CRITestServer(extraArguments: ["--image-pull-progress-timeout", "2s"], network: false)
    defer { server.stop() }
    try await server.withClients { runtime, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = "127.0.0.1:\(registry.port)/stall:latest"
      let began = ContinuousClock.now
      await expectRPCError(.deadlineExceeded, "pull of 127.0.0.1:\(registry.port)/stall:latest cancelled: no progress for 2s") {
        _ = try await images.pullImage(pull)
      }
      let took = ContinuousClock.now - began
      #expect(took >= .seconds(2) && took < .seconds(15), "\(took)")
      // The server goes on serving; the image is not there; nothing of the pull is left half-made
      // under its name.
      _ = try await runtime.version(.init())
      var st = Runtime_V1_ImageStatusRequest()
      st.image.image = pull.image.image
      #expect(try await images.imageStatus(st).hasImage == false)
    }
    #expect(server.log().contains("\(registry.sentBeforeStall) bytes received"), "the pull had made progress before it stalled")
  }

  @Test func durations() throws {
    #expect(CRIConfig.parseDuration("5m") == .seconds(300))
    #expect(CRIConfig.parseDuration("1m30s") == .seconds(90))
    #expect(CRIConfig.parseDuration("2.5s") == .milliseconds(2500))
    #expect(CRIConfig.parseDuration("500ms") == .milliseconds(500))
    #expect(CRIConfig.parseDuration("0") == .zero)
    for bad in ["", "5", "-5m", "5 m", "5d", "m"] { #expect(CRIConfig.parseDuration(bad) == nil, "\(bad)") }
    #expect(CRIConfig.format(.seconds(300)) == "5m0s")
    #expect(CRIConfig.format(.seconds(2)) == "2s")
    var c = CRIConfig()
    #expect(c.pullProgressTimeout == .seconds(300))
    c.imagePullProgressTimeout = "0"
    #expect(c.pullProgressTimeout == nil)
    try c.validate()
    c.imagePullProgressTimeout = "soon"
    #expect { try c.validate() } throws: { "\($0)".contains("image-pull-progress-timeout \"soon\" is not a duration") }
  }
}
