// LiftoffRPC's server on a real Unix socket, driven by a client that writes HTTP/2 frames by hand and
// encodes its header blocks with NIOHPACK's encoder (Huffman coding, a dynamic table: what Go's
// and grpc-swift's clients send): the answers' framing, statuses, flow control, cancellation,
// deadlines, limits, protocol errors and graceful shutdown. The CRI over this server is tested with
// grpc-swift's client in LiftoffCRITests, with Go's by critest, with Python's grpcio by hack/bench-reads.py.
import Foundation
import NIOCore
import NIOHPACK
import Synchronization
import Testing

@testable import LiftoffRPC

// MARK: a raw HTTP/2 client

struct Frame {
  var type: UInt8
  var flags: UInt8
  var stream: UInt32
  var payload: [UInt8]
}

final class H2Client {
  let fd: Int32
  var inbound: [UInt8] = []
  var encoder = HPACKEncoder(allocator: ByteBufferAllocator())
  var decoder = HPACKDecoder(allocator: ByteBufferAllocator())
  /// Frames of other streams read while waiting for one stream's (all kept, for the tests to look at).
  var other: [Frame] = []
  /// Those of them that `answer` has not yet looked at.
  var backlog: [Frame] = []

  init(path: String, preface: Bool = true) throws {
    fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      raw.copyBytes(from: path.utf8)
      raw[path.utf8.count] = 0
    }
    let rc = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
    if preface {
      send(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8))
      sendFrame(type: 4, flags: 0, stream: 0, payload: [])
    }
  }

  deinit { close(fd) }

  func send(_ bytes: [UInt8]) {
    var off = 0
    while off < bytes.count {
      let n = bytes[off...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
      if n <= 0 { return }
      off += n
    }
  }

  func sendFrame(type: UInt8, flags: UInt8, stream: UInt32, payload: [UInt8]) {
    let n = payload.count
    send([UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags] + be32(stream) + payload)
  }

  func headerBlock(_ fields: [(String, String)]) throws -> [UInt8] {
    var buffer = ByteBuffer()
    try encoder.encode(headers: HPACKHeaders(fields), to: &buffer)
    return buffer.readBytes(length: buffer.readableBytes)!
  }

  static func grpcMessage(_ body: [UInt8], compressed: Bool = false) -> [UInt8] {
    [compressed ? 1 : 0] + be32(UInt32(body.count)) + body
  }

  func requestHeaders(_ path: String, extra: [(String, String)] = [], contentType: String = "application/grpc") throws -> [UInt8] {
    try headerBlock(
      [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
       ("content-type", contentType), ("te", "trailers")] + extra)
  }

  /// A unary call: HEADERS, then the message in one DATA frame with END_STREAM.
  func call(_ path: String, stream: UInt32, body: [UInt8], extra: [(String, String)] = [], compressed: Bool = false) throws {
    sendFrame(type: 1, flags: 0x4, stream: stream, payload: try requestHeaders(path, extra: extra))
    sendFrame(type: 0, flags: 0x1, stream: stream, payload: Self.grpcMessage(body, compressed: compressed))
  }

  /// The next frame, or nil after `timeout` seconds or at EOF.
  func readFrame(timeout: Double = 10) -> Frame? {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
      if inbound.count >= 9 {
        let n = Int(inbound[0]) << 16 | Int(inbound[1]) << 8 | Int(inbound[2])
        if inbound.count >= 9 + n {
          let f = Frame(
            type: inbound[3], flags: inbound[4],
            stream: UInt32(inbound[5]) << 24 | UInt32(inbound[6]) << 16 | UInt32(inbound[7]) << 8 | UInt32(inbound[8]),
            payload: Array(inbound[9..<(9 + n)]))
          inbound.removeFirst(9 + n)
          return f
        }
      }
      let left = deadline.timeIntervalSinceNow
      guard left > 0 else { return nil }
      var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&p, 1, Int32(left * 1000) + 1) > 0 else { return nil }
      var buf = [UInt8](repeating: 0, count: 65536)
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      guard n > 0 else { return nil }
      inbound += buf[..<n]
    }
  }

  /// Whether the server closed the connection (EOF) within `timeout` seconds, frames before it kept.
  func closedByServer(timeout: Double = 5) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while deadline.timeIntervalSinceNow > 0 {
      var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&p, 1, 100) > 0 else { continue }
      var buf = [UInt8](repeating: 0, count: 65536)
      let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if n <= 0 { return true }
      inbound += buf[..<n]
    }
    return false
  }

  struct Answer {
    var headers: [(String, String)] = []
    var trailers: [(String, String)] = []
    var data: [UInt8] = []
    var reset: UInt32?
    var status: Int? { (trailers + headers).first { $0.0 == "grpc-status" }.flatMap { Int($0.1) } }
    var message: String? { (trailers + headers).first { $0.0 == "grpc-message" }?.1 }
    /// The gRPC messages in the data.
    var messages: [[UInt8]] {
      var out: [[UInt8]] = []
      var d = data[...]
      while d.count >= 5 {
        let n = Int(d[d.startIndex + 1]) << 24 | Int(d[d.startIndex + 2]) << 16 | Int(d[d.startIndex + 3]) << 8 | Int(d[d.startIndex + 4])
        out.append(Array(d.dropFirst(5).prefix(n)))
        d = d.dropFirst(5 + n)
      }
      return out
    }
  }

  func decode(_ payload: [UInt8]) throws -> [(String, String)] {
    var b = ByteBuffer(bytes: payload)
    return try decoder.decodeHeaders(from: &b).map { ($0.name, $0.value) }
  }

  /// Reads until the stream ends (END_STREAM or RST_STREAM); frames of other streams go to `other`.
  func answer(stream: UInt32, timeout: Double = 10) throws -> Answer? {
    var a = Answer()
    var headersSeen = false
    let earlier = backlog.filter { $0.stream == stream }
    backlog.removeAll { $0.stream == stream }
    var iterator = earlier.makeIterator()
    while let f = iterator.next() ?? readFrame(timeout: timeout) {
      guard f.stream == stream else {
        other.append(f)
        backlog.append(f)
        continue
      }
      switch f.type {
      case 1:
        #expect(f.flags & 0x4 != 0, "our tests' answers fit one HEADERS frame")
        let fields = try decode(f.payload)
        if headersSeen { a.trailers = fields } else { a.headers = fields }
        headersSeen = true
        if f.flags & 0x1 != 0 { return a }
      case 0:
        a.data += f.payload
        if f.flags & 0x1 != 0 { return a }
      case 3:
        a.reset = be32(f.payload)
        return a
      default: break
      }
    }
    return nil
  }
}

func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
func be32(_ b: [UInt8]) -> UInt32 { UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3]) }

// MARK: the server under test

final class TestServer: Sendable {
  let server: RPCServer
  let path: String
  let serving: Task<Void, any Error>
  let cancelled = Counter()

  final class Counter: Sendable {
    let value = Atomic<Int>(0)
  }

  init(limits: RPCServerLimits = RPCServerLimits()) async throws {
    path = "/tmp/liftoff-rpc-test-\(UUID().uuidString.prefix(8)).sock"
    let cancelled = self.cancelled
    var methods: [String: RPCMethod] = [:]
    methods["/t.S/Echo"] = .unary { body, _ in body }
    methods["/t.S/Big"] = .unary { body, _ in
      let n = Int(String(buffer: body)) ?? 0
      return ByteBuffer(repeating: 0x61, count: n)
    }
    methods["/t.S/Wait"] = .unary { _, _ in
      do {
        try await Task.sleep(for: .seconds(60))
      } catch {
        cancelled.value.add(1, ordering: .sequentiallyConsistent)
        throw error
      }
      return ByteBuffer()
    }
    methods["/t.S/Fail"] = .unary { _, _ in
      throw RPCStatus(code: 5, message: "no such thing: ünï % \n")
    }
    methods["/t.S/Count"] = .serverStreaming { body, _, writer in
      for i in 0..<(Int(String(buffer: body)) ?? 0) {
        try await writer.write(ByteBuffer(string: "m\(i)"))
      }
    }
    methods["/t.S/Forever"] = .serverStreaming { _, _, writer in
      try await writer.write(ByteBuffer(string: "first"))
      do {
        try await Task.sleep(for: .seconds(60))
      } catch {
        cancelled.value.add(1, ordering: .sequentiallyConsistent)
        throw error
      }
    }
    let server = RPCServer(methods: methods, limits: limits) { error in
      (error as? RPCStatus) ?? RPCStatus(code: error is CancellationError ? 1 : 2, message: "\(error)")
    }
    self.server = server
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    let p = path
    withUnsafeMutableBytes(of: &address.sun_path) { raw in
      raw.copyBytes(from: p.utf8)
      raw[p.utf8.count] = 0
    }
    _ = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    let ready = AsyncStream<Void>.makeStream()
    serving = Task { try await server.serve(listeningSocket: fd) { ready.continuation.yield() } }
    for await _ in ready.stream { break }
  }

  /// How many of the Wait and Forever handlers saw their task cancelled.
  var cancellations: Int { cancelled.value.load(ordering: .sequentiallyConsistent) }

  func waitForCancellations(_ n: Int) async -> Bool {
    for _ in 0..<100 {
      if cancellations >= n { return true }
      try? await Task.sleep(for: .milliseconds(50))
    }
    return false
  }

  func stop() async {
    server.beginGracefulShutdown()
    _ = try? await serving.value
    unlink(path)
  }
}

@Suite(.serialized) struct RPCServerTests {
  @Test func aUnaryCallThatOutlastsTheGraceIsCutOffAndServeReturns() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    try c.call("/t.S/Wait", stream: 1, body: [])
    try c.call("/t.S/Echo", stream: 3, body: [7])
    #expect(try c.answer(stream: 3)?.status == 0)
    server.server.beginGracefulShutdown(grace: .milliseconds(300))
    _ = try? await server.serving.value  // returns: the connection was closed at the grace's end
    #expect(await server.waitForCancellations(1))
    #expect(c.closedByServer())
    unlink(server.path)
  }

  @Test func aUnaryCallEchoesWithHeadersDataAndTrailers() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    try c.call("/t.S/Echo", stream: 1, body: Array("hello".utf8))
    let a = try #require(try c.answer(stream: 1))
    #expect(a.headers.contains { $0 == (":status", "200") })
    #expect(a.headers.contains { $0 == ("content-type", "application/grpc") })
    #expect(a.messages == [Array("hello".utf8)])
    #expect(a.status == 0)
    // The server's preface: SETTINGS with our window, and the connection's window raised.
    #expect(c.other.contains { $0.type == 4 && $0.flags == 0 })
    #expect(c.other.contains { $0.type == 8 && $0.stream == 0 })
    await server.stop()
  }

  @Test func aClientThatShrinksItsHeaderTableGetsATableSizeUpdateFirst() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    c.sendFrame(type: 4, flags: 0, stream: 0, payload: [0, 1, 0, 0, 0, 0])  // SETTINGS_HEADER_TABLE_SIZE 0
    try c.call("/t.S/Echo", stream: 1, body: [1])
    var first: Frame?
    while let f = c.readFrame(timeout: 5) {
      if f.type == 1 && f.stream == 1 { first = f; break }
    }
    #expect(first?.payload.first == 0x20)
    await server.stop()
  }

  @Test func anErrorIsATrailersOnlyAnswerWithThePercentEncodedMessage() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    try c.call("/t.S/Fail", stream: 1, body: [])
    let a = try #require(try c.answer(stream: 1))
    #expect(a.trailers.isEmpty && a.data.isEmpty)
    #expect(a.status == 5)
    #expect(a.message == "no such thing: %C3%BCn%C3%AF %25 %0A")
    try c.call("/t.S/Nope", stream: 3, body: [])
    let b = try #require(try c.answer(stream: 3))
    #expect(b.status == 12 && b.message == "unknown method /t.S/Nope")
    await server.stop()
  }

  @Test func manyStreamsAtOnceAndAHeaderBlockInContinuationsWithPaddedData() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    for id in [1, 3, 5] as [UInt32] { try c.call("/t.S/Echo", stream: id, body: Array("s\(id)".utf8)) }
    for id in [5, 1, 3] as [UInt32] {
      let a = try #require(try c.answer(stream: id))
      #expect(a.messages == [Array("s\(id)".utf8)] && a.status == 0)
    }
    // Split header block: HEADERS without END_HEADERS, then two CONTINUATIONs; DATA padded.
    let block = try c.requestHeaders("/t.S/Echo")
    c.sendFrame(type: 1, flags: 0, stream: 7, payload: Array(block[..<3]))
    c.sendFrame(type: 9, flags: 0, stream: 7, payload: Array(block[3..<6]))
    c.sendFrame(type: 9, flags: 0x4, stream: 7, payload: Array(block[6...]))
    c.sendFrame(type: 0, flags: 0x1 | 0x8, stream: 7, payload: [4] + H2Client.grpcMessage(Array("pad".utf8)) + [0, 0, 0, 0])
    let a = try #require(try c.answer(stream: 7))
    #expect(a.messages == [Array("pad".utf8)] && a.status == 0)
    await server.stop()
  }

  @Test func anAnswerLargerThanTheWindowWaitsForWindowUpdates() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    try c.call("/t.S/Big", stream: 1, body: Array("200000".utf8))
    // The default windows (65,535 for the stream and the connection) let that much through, no more.
    var got = 0
    while let f = c.readFrame(timeout: 0.5) {
      if f.stream == 1 && f.type == 0 { got += f.payload.count }
      #expect(!(f.stream == 1 && f.type == 1 && f.flags & 1 != 0), "trailers before the data")
    }
    #expect(got == 65_535)
    c.sendFrame(type: 8, flags: 0, stream: 0, payload: be32(1 << 20))
    c.sendFrame(type: 8, flags: 0, stream: 1, payload: be32(1 << 20))
    let a = try #require(try c.answer(stream: 1))
    #expect(got + a.data.count == 200_005)
    #expect(a.status == 0)
    await server.stop()
  }

  @Test func aResetStreamCancelsTheCallsTask() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    try c.call("/t.S/Wait", stream: 1, body: [])
    try await Task.sleep(for: .milliseconds(100))
    c.sendFrame(type: 3, flags: 0, stream: 1, payload: be32(8))
    #expect(await server.waitForCancellations(1))
    // The connection goes on.
    try c.call("/t.S/Echo", stream: 3, body: [1])
    #expect(try c.answer(stream: 3)?.status == 0)
    await server.stop()
  }

  @Test func aDeadlineEndsTheCallWithDeadlineExceeded() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    try c.call("/t.S/Wait", stream: 1, body: [], extra: [("grpc-timeout", "100m")])
    let a = try #require(try c.answer(stream: 1))
    #expect(a.status == 4)
    #expect(await server.waitForCancellations(1))
    try c.call("/t.S/Echo", stream: 3, body: [], extra: [("grpc-timeout", "1x")])
    #expect(try c.answer(stream: 3)?.status == 13)
    await server.stop()
  }

  @Test func requestsThatAreNotServedGetAClearAnswer() async throws {
    var limits = RPCServerLimits()
    limits.maxRequestMessage = 1000
    let server = try await TestServer(limits: limits)
    let c = try H2Client(path: server.path)
    try c.call("/t.S/Echo", stream: 1, body: [UInt8](repeating: 1, count: 2000))
    let big = try #require(try c.answer(stream: 1))
    #expect(big.status == 8 && big.message?.contains("1000") == true)
    try c.call("/t.S/Echo", stream: 3, body: [1, 2], compressed: true)
    #expect(try c.answer(stream: 3)?.status == 12)
    c.sendFrame(type: 1, flags: 0x4, stream: 5, payload: try c.requestHeaders("/t.S/Echo", contentType: "text/plain"))
    let plain = try #require(try c.answer(stream: 5))
    #expect(plain.headers.contains { $0 == (":status", "415") })
    // A message framed longer than what follows it.
    c.sendFrame(type: 1, flags: 0x4, stream: 7, payload: try c.requestHeaders("/t.S/Echo"))
    c.sendFrame(type: 0, flags: 0x1, stream: 7, payload: [0, 0, 0, 0, 9, 1])
    #expect(try c.answer(stream: 7)?.status == 13)
    // No message at all.
    c.sendFrame(type: 1, flags: 0x5, stream: 9, payload: try c.requestHeaders("/t.S/Echo"))
    #expect(try c.answer(stream: 9)?.status == 13)
    await server.stop()
  }

  @Test func pingIsAnsweredAndProtocolErrorsEndTheConnection() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    c.sendFrame(type: 6, flags: 0, stream: 0, payload: [1, 2, 3, 4, 5, 6, 7, 8])
    var ack: Frame?
    while let f = c.readFrame(timeout: 5) {
      if f.type == 6 { ack = f; break }
    }
    #expect(ack?.flags == 1 && ack?.payload == [1, 2, 3, 4, 5, 6, 7, 8])
    // A frame longer than our SETTINGS_MAX_FRAME_SIZE (the default, 16,384).
    c.sendFrame(type: 0, flags: 0, stream: 1, payload: [UInt8](repeating: 0, count: 20_000))
    var goAway: Frame?
    while let f = c.readFrame(timeout: 5) {
      if f.type == 7 { goAway = f; break }
    }
    #expect(goAway.map { be32(Array($0.payload[4..<8])) } == 6)
    #expect(c.closedByServer())
    // Not HTTP/2 at all.
    let d = try H2Client(path: server.path, preface: false)
    d.send(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
    #expect(d.closedByServer())
    await server.stop()
  }

  @Test func aServerStreamingCallSendsItsMessagesThenOK() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    try c.call("/t.S/Count", stream: 1, body: Array("3".utf8))
    let a = try #require(try c.answer(stream: 1))
    #expect(a.messages == [Array("m0".utf8), Array("m1".utf8), Array("m2".utf8)])
    #expect(a.status == 0)
    await server.stop()
  }

  @Test func gracefulShutdownEndsStreamingCallsLetsUnaryOnesFinishAndReturns() async throws {
    let server = try await TestServer()
    let c = try H2Client(path: server.path)
    try c.call("/t.S/Forever", stream: 1, body: [])
    try c.call("/t.S/Echo", stream: 3, body: [7])
    #expect(try c.answer(stream: 3)?.status == 0)
    server.server.beginGracefulShutdown()
    let a = try #require(try c.answer(stream: 1))
    #expect(a.messages == [Array("first".utf8)])
    #expect(a.status == 14)
    #expect(c.other.contains { $0.type == 7 && be32(Array($0.payload[0..<4])) == 3 })
    #expect(c.closedByServer())
    #expect(await server.waitForCancellations(1))
    _ = try? await server.serving.value
    unlink(server.path)
  }
}
