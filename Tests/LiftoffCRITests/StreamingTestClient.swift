// A streaming client written for the tests, as client-go and crictl behave (read for facts from
// client-go tools/remotecommand and tools/portforward): HTTP upgrade to SPDY/3.1 or WebSocket, streams
// opened error-first, stdin half-closed, port-forward pairs with requestID. It reuses the framing code
// (SPDY ours, WebSocket NIOWebSocket's with our frame check, both checked against recorded bytes in
// StreamingProtocolTests; the WebSocket upgrade is NIO's client upgrader) but none of the server logic.
import Foundation
@testable import LiftoffCRI
@testable import LiftoffStreaming
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import Synchronization
import Testing

struct HTTPStatusError: Error, CustomStringConvertible {
  var status: Int
  var body: String
  var description: String { "http \(status): \(body)" }
}

enum StreamingTestClient {
  static func split(_ url: String) -> (port: Int, path: String) {
    let u = URL(string: url)!
    return (u.port!, u.path)
  }

  static func connect(port: Int) async throws -> NIOAsyncChannel<ByteBuffer, ByteBuffer> {
    try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .connect(host: "127.0.0.1", port: port) { ch in
        ch.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch) }
      }
  }

  /// Reads the response head; returns status and headers.
  static func readResponse(_ reader: ByteReader) async throws -> (status: Int, headers: [String: String], body: String) {
    guard let head = try await readHead(reader) else { throw HTTPStatusError(status: 0, body: "no response") }
    let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
    let status = Int(lines[0].split(separator: " ")[1]) ?? 0
    var headers: [String: String] = [:]
    for line in lines.dropFirst() where line.contains(":") {
      let i = line.firstIndex(of: ":")!
      headers[line[..<i].lowercased()] = line[line.index(after: i)...].trimmingCharacters(in: .whitespaces)
    }
    var body = ""
    if status != 101 {
      while let chunk = try? await reader.readSome() { body += String(decoding: chunk, as: UTF8.self) }
    }
    return (status, headers, body)
  }

  /// A response head, up to and including CRLF CRLF, a byte at a time (nothing after it is consumed);
  /// nil at EOF before it.
  static func readHead(_ reader: ByteReader, limit: Int = 65536) async throws -> [UInt8]? {
    var head: [UInt8] = []
    while head.count < limit {
      guard let b = try await reader.read(exactly: 1) else { return head.isEmpty ? nil : head }
      head += b
      if head.count >= 4 && head.suffix(4).elementsEqual([13, 10, 13, 10]) { return head }
    }
    throw HTTPStatusError(status: 0, body: "response head longer than \(limit) bytes")
  }

  /// Sends a raw request and returns the response (for the error paths).
  static func raw(port: Int, _ request: String) async throws -> (status: Int, headers: [String: String], body: String) {
    let channel = try await connect(port: port)
    return try await channel.executeThenClose { inbound, outbound in
      var it = inbound.makeAsyncIterator()
      let reader = ByteReader {
        guard var b = try await it.next() else { return nil }
        return b.readBytes(length: b.readableBytes)
      }
      try await outbound.write(ByteBuffer(string: request))
      return try await readResponse(reader)
    }
  }

  static func spdyUpgrade(path: String, protocols: [String]) -> String {
    var r = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
    for p in protocols { r += "X-Stream-Protocol-Version: \(p)\r\n" }
    return r + "\r\n"
  }

  static func webSocketUpgrade(path: String, protocols: [String], key: String) -> String {
    "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
      + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Protocol: \(protocols.joined(separator: ", "))\r\n\r\n"
  }

  /// A SPDY session to `url`; `body` runs while the client reads frames; the connection closes after.
  static func withSPDY<T: Sendable>(
    _ url: String, protocols: [String], sendsWindowUpdates: Bool = true,
    _ body: @escaping @Sendable (SPDYConnection, String) async throws -> T
  ) async throws -> T {
    let (port, path) = split(url)
    let channel = try await connect(port: port)
    return try await channel.executeThenClose { inbound, outbound in
      var it = inbound.makeAsyncIterator()
      let reader = ByteReader {
        guard var b = try await it.next() else { return nil }
        return b.readBytes(length: b.readableBytes)
      }
      let writer = NIOByteWriter(outbound: outbound, channel: channel.channel)
      try await writer.write(Array(spdyUpgrade(path: path, protocols: protocols).utf8))
      let response = try await readResponse(reader)
      guard response.status == 101 else { throw HTTPStatusError(status: response.status, body: response.body) }
      #expect(response.headers["upgrade"] == "SPDY/3.1")
      let negotiated = response.headers["x-stream-protocol-version"] ?? ""
      let spdy = try SPDYConnection(role: .client, writer: writer, sendsWindowUpdates: sendsWindowUpdates)
      return try await runWhileReading(spdy: spdy, reader: reader, writer: writer) { try await body(spdy, negotiated) }
    }
  }

  static func runWhileReading<T: Sendable>(
    spdy: SPDYConnection, reader: ByteReader, writer: any ByteWriter, _ body: @escaping @Sendable () async throws -> T
  ) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
      group.addTask {
        do {
          let r = try await body()
          await writer.close()
          return r
        } catch {
          await writer.close()
          throw error
        }
      }
      await spdy.run(reader: reader)
      var result: T?
      for try await r in group { if let r { result = r } }
      return result!
    }
  }

  enum WebSocketUpgrade: Sendable {
    case upgraded(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, protocol: String)
    case notUpgraded
  }

  /// A WebSocket connection to `path` through NIO's client upgrade (which checks the accept key), with
  /// the server's frame handlers for a client; the negotiated protocol.
  static func connectWebSocket(port: Int, path: String, protocols: [String]) async throws
    -> (NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, String)
  {
    let upgrader = NIOTypedWebSocketClientUpgrader<WebSocketUpgrade>(
      maxFrameSize: WebSocket.maxMessage, enableAutomaticErrorHandling: false,
      upgradePipelineHandler: { channel, response in
        channel.eventLoop.makeCompletedFuture {
          // NIO's upgrader has added the decoder and encoder; the check and the aggregator as the server has them.
          try channel.pipeline.syncOperations.addHandlers([
            WebSocketFrameCheck(requireMask: false),
            NIOWebSocketFrameAggregator(
              minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1 << 16, maxAccumulatedFrameSize: WebSocket.maxMessage),
          ])
          let negotiated = response.headers.first(name: "Sec-WebSocket-Protocol") ?? ""
          return .upgraded(try NIOAsyncChannel(wrappingChannelSynchronously: channel), protocol: negotiated)
        }
      })
    let head = HTTPRequestHead(
      version: .http1_1, method: .GET, uri: path,
      headers: HTTPHeaders([("Host", "127.0.0.1"), ("Sec-WebSocket-Protocol", protocols.joined(separator: ", ")), ("Content-Length", "0")]))
    let configuration = {
      var c = NIOUpgradableHTTPClientPipelineConfiguration<WebSocketUpgrade>(
        upgradeConfiguration: NIOTypedHTTPClientUpgradeConfiguration(
          upgradeRequestHead: head, upgraders: [upgrader],
          notUpgradingCompletionHandler: { channel in channel.eventLoop.makeSucceededFuture(.notUpgraded) }))
      // The server's first frames may come with its 101.
      c.leftOverBytesStrategy = .forwardBytes
      return c
    }()
    let upgrade = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .connect(host: "127.0.0.1", port: port) { channel in
        channel.eventLoop.makeCompletedFuture {
          try channel.pipeline.syncOperations.configureUpgradableHTTPClientPipeline(configuration: configuration)
        }
      }
    switch try await upgrade.get() {
    case .upgraded(let channel, let negotiated): return (channel, negotiated)
    case .notUpgraded: throw HTTPStatusError(status: 0, body: "the server did not upgrade to websocket")
    }
  }

  /// A WebSocket session; `body` gets the connection and the data messages as they arrive.
  static func withWebSocket<T: Sendable>(
    _ url: String, protocols: [String],
    _ body: @escaping @Sendable (WebSocketConnection, String, AsyncStream<[UInt8]>) async throws -> T
  ) async throws -> T {
    let (port, path) = split(url)
    let (channel, negotiated) = try await connectWebSocket(port: port, path: path, protocols: protocols)
    return try await channel.executeThenClose { inbound, outbound in
      let ws = WebSocketConnection(role: .client, outbound: outbound, channel: channel.channel)
      let frames = WebSocketInbound(inbound)
      let (messages, input) = AsyncStream.makeStream(of: [UInt8].self)
      return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
          do {
            let r = try await body(ws, negotiated, messages)
            await ws.closeTransport()
            return r
          } catch {
            await ws.closeTransport()
            throw error
          }
        }
        while let m = try? await ws.readMessage(from: frames) { input.yield(m.payload) }
        input.finish()
        var result: T?
        for try await r in group { if let r { result = r } }
        return result!
      }
    }
  }

  /// SPDY inside WebSocket binary messages (SPDY/3.1+portforward.k8s.io), as client-go's tunneling dialer.
  static func withTunnelledSPDY<T: Sendable>(
    _ url: String, _ body: @escaping @Sendable (SPDYConnection) async throws -> T
  ) async throws -> T {
    let (port, path) = split(url)
    let (channel, negotiated) = try await connectWebSocket(port: port, path: path, protocols: ["SPDY/3.1+portforward.k8s.io"])
    #expect(negotiated == "SPDY/3.1+portforward.k8s.io")
    return try await channel.executeThenClose { inbound, outbound in
      let ws = WebSocketConnection(role: .client, outbound: outbound, channel: channel.channel)
      let frames = WebSocketInbound(inbound)
      let tunnel = ByteReader {
        while let m = try await ws.readMessage(from: frames) { if !m.payload.isEmpty { return m.payload } }
        return nil
      }
      let writer = WebSocketTunnelWriter(ws: ws)
      let spdy = try SPDYConnection(role: .client, writer: writer)
      return try await runWhileReading(spdy: spdy, reader: tunnel, writer: writer) { try await body(spdy) }
    }
  }
}

/// What a remote command produced, as the client saw it.
struct CommandOutput: Sendable {
  var stdout: [UInt8] = []
  var stderr: [UInt8] = []
  var status: [UInt8] = []
  var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
  var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Reads a stream to its end.
func readAll(_ stream: SPDYStream) async -> [UInt8] {
  var out: [UInt8] = []
  for await chunk in stream.inbound {
    out += chunk
    await stream.consumed(chunk.count)
  }
  return out
}

func readAllIfAny(_ stream: SPDYStream?) async -> [UInt8] {
  guard let stream else { return [] }
  return await readAll(stream)
}

/// Exec/attach over SPDY the way client-go's v4 client does it: error stream first, then stdin,
/// stdout, stderr, resize; stdin written and half-closed; outputs and status read to their ends.
/// `afterStdin` runs between the write and the half-close.
func spdyRemoteCommand(
  _ spdy: SPDYConnection, stdin: [UInt8]?, stdout: Bool = true, stderr: Bool = true, tty: Bool = false,
  resize: [TerminalSize] = [], stdinDelay: Duration = .zero, closeStdin: Bool = true,
  beforeStdin: @Sendable () async throws -> Void = {}, afterStdin: @Sendable () async throws -> Void = {}
) async throws -> CommandOutput {
  func open(_ type: String) async throws -> SPDYStream {
    try await spdy.openStream(headers: SPDYHeaders([("streamType", type)]))
  }
  let error = try await open("error")
  let input = stdin != nil ? try await open("stdin") : nil
  let out = stdout ? try await open("stdout") : nil
  let err = stderr && !tty ? try await open("stderr") : nil
  let resizeStream = tty ? try await open("resize") : nil
  for size in resize {
    try await resizeStream?.write(Array("{\"Width\":\(size.width),\"Height\":\(size.height)}".utf8))
  }
  async let o = readAllIfAny(out)
  async let e = readAllIfAny(err)
  if let input, let stdin {
    try await beforeStdin()
    if stdinDelay > .zero { try await Task.sleep(for: stdinDelay) }
    try await input.write(stdin)
    try await afterStdin()
    if closeStdin { await input.closeWrite() }
  }
  let status = await readAll(error)
  return CommandOutput(stdout: await o, stderr: await e, status: status)
}

/// Exec/attach over WebSocket the way client-go's v5 client does: channel-prefixed messages, the
/// stdin close signal [255, 0], the status on channel 3, the end when the server closes.
func webSocketRemoteCommand(
  _ ws: WebSocketConnection, _ messages: AsyncStream<[UInt8]>, stdin: [UInt8]?, closeStdin: Bool,
  resize: [TerminalSize] = [], stdinDelay: Duration = .zero
) async throws -> CommandOutput {
  for size in resize {
    try await ws.sendBinary([4] + Array("{\"Width\":\(size.width),\"Height\":\(size.height)}".utf8))
  }
  let sender = Task {
    if let stdin {
      if stdinDelay > .zero { try? await Task.sleep(for: stdinDelay) }
      try await ws.sendBinary([0] + stdin)
      if closeStdin { try await ws.sendBinary([255, 0]) }
    }
  }
  var result = CommandOutput()
  for await m in messages {
    guard let channel = m.first else { continue }
    switch channel {
    case 1: result.stdout += m.dropFirst()
    case 2: result.stderr += m.dropFirst()
    case 3: result.status += m.dropFirst()
    default: break
    }
  }
  try await sender.value
  await ws.close()
  return result
}

/// A TCP server on 127.0.0.1 that sends back what it receives, each byte passed through `transform`.
final class EchoServer: @unchecked Sendable {
  let fd: Int32
  let port: UInt16
  let transform: @Sendable (UInt8) -> UInt8

  init(transform: @escaping @Sendable (UInt8) -> UInt8 = { $0 }) throws {
    self.transform = transform
    let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    fd = sock
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
    _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    listen(sock, 64)
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(sock, $0, &len) } }
    port = UInt16(bigEndian: addr.sin_port)
    let fd = self.fd
    let transform = self.transform
    Thread.detachNewThread {
      while true {
        let c = accept(fd, nil, nil)
        if c < 0 { return }
        Thread.detachNewThread {
          var buf = [UInt8](repeating: 0, count: 65536)
          while true {
            let n = buf.withUnsafeMutableBytes { read(c, $0.baseAddress, 65536) }
            if n <= 0 { break }
            var out = Array(buf[0..<n])
            for i in out.indices { out[i] = transform(out[i]) }
            var off = 0
            while off < out.count {
              let w = out[off...].withUnsafeBytes { write(c, $0.baseAddress, $0.count) }
              if w <= 0 { break }
              off += w
            }
          }
          close(c)
        }
      }
    }
  }

  func stop() {
    shutdown(fd, Int32(SHUT_RDWR))
    close(fd)
  }
}

/// A free port on 127.0.0.1 nobody listens on.
func closedPort() -> UInt16 {
  let s = try! EchoServer()
  s.stop()
  return s.port
}

/// One port-forward connection as kubectl/crictl open it: error stream, then data stream, same
/// requestID; sends `payload`, half-closes, reads everything back.
func forwardOnce(_ spdy: SPDYConnection, port: UInt16, requestID: Int, payload: [UInt8]) async throws -> (data: [UInt8], error: String) {
  let headers = [("port", "\(port)"), ("requestID", "\(requestID)")]
  let error = try await spdy.openStream(headers: SPDYHeaders([("streamType", "error")] + headers))
  let data = try await spdy.openStream(headers: SPDYHeaders([("streamType", "data")] + headers))
  async let received = readAll(data)
  async let errorText = readAll(error)
  var offset = 0
  while offset < payload.count {
    let n = min(50_000, payload.count - offset)
    try await data.write(Array(payload[offset..<offset + n]))
    offset += n
  }
  await data.closeWrite()
  let d = await received
  let e = await errorText
  await error.closeWrite()
  return (d, String(decoding: e, as: UTF8.self))
}

func randomBytes(_ n: Int) -> [UInt8] {
  var rng = SystemRandomNumberGenerator()
  var out = [UInt8](repeating: 0, count: n)
  var i = 0
  while i < n {
    var v = rng.next() as UInt64
    for _ in 0..<8 where i < n {
      out[i] = UInt8(v & 0xff)
      v >>= 8
      i += 1
    }
  }
  return out
}
