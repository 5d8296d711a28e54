// The streaming protocols' code against byte sequences written from the published descriptions:
// SPDY/3.1 frame layouts (draft-mbelshe-httpbis-spdy-00 §2), header blocks compressed by another zlib
// user (Python's zlib module, level 9, with the SPDY dictionary: what moby/spdystream sends), WebSocket
// frames from RFC 6455 §5.7 and its handshake example (§1.3), and kubelet's Status JSON.
import Foundation
@testable import LiftoffStreaming
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
import Testing

struct SPDYFrameTests {
  func roundTrip(_ frame: SPDYFrame, _ expected: [UInt8]) throws {
    let bytes = try frame.encode(deflater: SPDYHeaderDeflater())
    #expect(bytes == expected, "\(frame)")
    let decoded = try SPDYFrame.decode(header: Array(expected[0..<8]), payload: Array(expected[8...]), inflater: SPDYHeaderInflater())
    #expect(decoded == frame)
    #expect(SPDYFrame.payloadLength(header: Array(expected[0..<8])) == expected.count - 8)
  }

  @Test func controlAndDataFrameLayouts() throws {
    // |1|version 3|type|flags|length(24)|…
    try roundTrip(.ping(id: 1), [0x80, 0x03, 0x00, 0x06, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01])
    try roundTrip(
      .rstStream(streamID: 3, status: SPDYFrame.rstCancel),
      [0x80, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x05])
    try roundTrip(
      .windowUpdate(streamID: 1, delta: 0x8000),
      [0x80, 0x03, 0x00, 0x09, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x80, 0x00])
    try roundTrip(
      .goAway(lastGoodStreamID: 7, status: 0),
      [0x80, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00])
    try roundTrip(
      .settings(flags: 0, entries: [.init(flags: 0, id: SPDYFrame.settingsInitialWindowSize, value: 1 << 20)]),
      [0x80, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07, 0x00, 0x10, 0x00, 0x00])
    // |0|stream id|flags (FIN)|length|data
    try roundTrip(.data(streamID: 5, flags: SPDYFrame.flagFin, payload: Array("hi".utf8)), [0x00, 0x00, 0x00, 0x05, 0x01, 0x00, 0x00, 0x02, 0x68, 0x69])
  }

  @Test func headerBlockLayout() throws {
    let headers = SPDYHeaders([("streamType", "error"), ("port", "80")])
    let expected: [UInt8] =
      [0, 0, 0, 2] + [0, 0, 0, 10] + Array("streamtype".utf8) + [0, 0, 0, 5] + Array("error".utf8)
      + [0, 0, 0, 4] + Array("port".utf8) + [0, 0, 0, 2] + Array("80".utf8)
    #expect(headers.encodeBlock() == expected)
    #expect(try SPDYHeaders.decodeBlock(expected) == headers)
    #expect(headers["StreamType"] == "error")
    // Several values of one name travel NUL-separated.
    let multi = SPDYHeaders([("x", "a"), ("x", "b")])
    #expect(multi.encodeBlock() == [0, 0, 0, 1, 0, 0, 0, 1, 0x78, 0, 0, 0, 3, 0x61, 0, 0x62])
    #expect(try SPDYHeaders.decodeBlock(multi.encodeBlock()) == multi)
    // Truncated and duplicate blocks are errors, not crashes.
    #expect(throws: SPDYError.self) { try SPDYHeaders.decodeBlock(Array(expected.dropLast())) }
    #expect(throws: SPDYError.self) { try SPDYHeaders.decodeBlock([0, 0, 0, 2] + Array(expected[4..<23]) + Array(expected[4..<23])) }
  }

  @Test func dictionaryIsTheSpecOne() {
    let d = SPDYDictionary.bytes
    #expect(d.count == 1423)
    #expect(Array(d.prefix(11)) == [0, 0, 0, 7] + Array("options".utf8))
    #expect(String(decoding: d.suffix(6), as: UTF8.self) == "enq=0.")
    // Adler-32, the DICTID every SPDY/3 header block's zlib header carries.
    var a: UInt32 = 1, b: UInt32 = 0
    for byte in d {
      a = (a + UInt32(byte)) % 65521
      b = (b + a) % 65521
    }
    #expect(b << 16 | a == 0xe3c6_a7c2)
  }

  /// Two SYN_STREAM frames as another implementation compressed them (one zlib stream for both).
  static let recordedSynStream1: [UInt8] = [
    0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2, 0x02, 0xa6, 0x23, 0x46, 0x70, 0x3a, 0x2b, 0x29, 0x4a, 0x4d, 0xcc, 0x85,
    0x16, 0x25, 0xac, 0xa9, 0xa0, 0x80, 0x06, 0x00, 0x00, 0x00, 0xff, 0xff,
  ]
  static let recordedSynStream2: [UInt8] = [
    0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x02, 0xa5, 0x47, 0x48, 0xd1, 0x5c, 0x04, 0xce, 0x05, 0x16, 0x06, 0x16, 0x06, 0x40, 0x9a, 0xb3, 0x08, 0x12,
    0x95, 0x99, 0xa0, 0x24, 0xce, 0x68, 0x80, 0xa1, 0x19, 0x54, 0x0e, 0x25, 0x02, 0x00, 0x00, 0x00, 0xff, 0xff,
  ]

  @Test func decodesHeaderBlocksCompressedElsewhere() throws {
    let inflater = try SPDYHeaderInflater()
    let f1 = try SPDYFrame.decode(header: Array(Self.recordedSynStream1[0..<8]), payload: Array(Self.recordedSynStream1[8...]), inflater: inflater)
    #expect(f1 == .synStream(streamID: 1, associatedTo: 0, priority: 0, flags: 0, headers: SPDYHeaders([("streamtype", "error")])))
    let f2 = try SPDYFrame.decode(header: Array(Self.recordedSynStream2[0..<8]), payload: Array(Self.recordedSynStream2[8...]), inflater: inflater)
    #expect(
      f2 == .synStream(streamID: 3, associatedTo: 0, priority: 0, flags: 0, headers: SPDYHeaders([("port", "8080"), ("requestid", "0"), ("streamtype", "data")])))
    // The second block only decodes with the first one's zlib state: a fresh inflater fails cleanly.
    #expect(throws: (any Error).self) {
      _ = try SPDYFrame.decode(header: Array(Self.recordedSynStream2[0..<8]), payload: Array(Self.recordedSynStream2[8...]), inflater: SPDYHeaderInflater())
    }
  }

  @Test func compressedBlocksNameTheSPDYDictionaryAndRoundTrip() throws {
    let deflater = try SPDYHeaderDeflater()
    let inflater = try SPDYHeaderInflater()
    for i in 0..<20 {
      let headers = SPDYHeaders([("streamtype", i % 2 == 0 ? "stdout" : "data"), ("port", "\(8000 + i)"), ("requestid", "\(i)")])
      let z = try deflater.compress(headers.encodeBlock())
      if i == 0 {
        // zlib header: CM 8, FDICT set, then DICTID = Adler-32 of the SPDY dictionary.
        #expect(z[0] == 0x78)
        #expect(z[1] & 0x20 != 0)
        #expect((UInt16(z[0]) << 8 | UInt16(z[1])) % 31 == 0)
        #expect(Array(z[2..<6]) == [0xe3, 0xc6, 0xa7, 0xc2])
      }
      // Every block ends with a sync flush: 00 00 ff ff.
      #expect(Array(z.suffix(4)) == [0x00, 0x00, 0xff, 0xff])
      #expect(try SPDYHeaders.decodeBlock(inflater.decompress(z)) == headers)
    }
  }

  @Test func badFramesAreErrors() throws {
    let inflater = try SPDYHeaderInflater()
    // Version 2.
    #expect(throws: SPDYError.self) { try SPDYFrame.decode(header: [0x80, 0x02, 0x00, 0x06, 0, 0, 0, 4], payload: [0, 0, 0, 1], inflater: inflater) }
    // Short RST_STREAM.
    #expect(throws: SPDYError.self) { try SPDYFrame.decode(header: [0x80, 0x03, 0x00, 0x03, 0, 0, 0, 4], payload: [0, 0, 0, 1], inflater: inflater) }
    // Garbage header block.
    #expect(throws: SPDYError.self) {
      try SPDYFrame.decode(header: [0x80, 0x03, 0x00, 0x02, 0, 0, 0, 8], payload: [0, 0, 0, 1, 1, 2, 3, 4], inflater: inflater)
    }
    // Unknown control types are ignored (spec), NOOP too.
    #expect(try SPDYFrame.decode(header: [0x80, 0x03, 0x00, 0x0f, 0, 0, 0, 0], payload: [], inflater: inflater) == .unknown(type: 15))
  }
}

/// Collects what a connection writes.
final class RecordingWriter: ByteWriter {
  let written = Mutex<[[UInt8]]>([])
  func write(_ bytes: [UInt8]) async throws { written.withLock { $0.append(bytes) } }
  func close() async {}
}

func reader(of bytes: [UInt8], chunk: Int = 3) -> ByteReader {
  var rest = ArraySlice(bytes)
  return ByteReader {
    guard !rest.isEmpty else { return nil }
    defer { rest = rest.dropFirst(chunk) }
    return Array(rest.prefix(chunk))
  }
}

/// WebSocket framing as the server and the test client run it: NIOWebSocket's decoder, encoder and
/// aggregator with our WebSocketFrameCheck (WebSocket.addFrameHandlers), in an EmbeddedChannel, on the
/// RFC 6455 examples.
struct WebSocketFrameTests {
  let hello = Array("Hello".utf8)
  let mask: [UInt8] = [0x37, 0xfa, 0x21, 0x3d]

  func channel(_ role: WebSocket.Role) throws -> EmbeddedChannel {
    let channel = EmbeddedChannel()
    try WebSocket.addFrameHandlers(to: channel, role: role)
    return channel
  }

  /// The frames `bytes` (in chunks) come out as.
  func frames(_ channel: EmbeddedChannel, _ bytes: [UInt8], chunk: Int = 1 << 20) throws -> [WebSocketFrame] {
    var i = 0
    while i < bytes.count {
      try channel.writeInbound(ByteBuffer(bytes: bytes[i..<min(bytes.count, i + chunk)]))
      i += chunk
    }
    var out: [WebSocketFrame] = []
    while let f = try channel.readInbound(as: WebSocketFrame.self) { out.append(f) }
    return out
  }

  func encoded(_ channel: EmbeddedChannel, _ frame: WebSocketFrame) throws -> [UInt8] {
    try channel.writeOutbound(frame)
    var out: [UInt8] = []
    while let b = try channel.readOutbound(as: ByteBuffer.self) { out += b.readableBytesView }
    return out
  }

  /// A client's frame: FIN and opcode, the mask bit and length (< 126), the key, the masked payload.
  func clientFrame(_ first: UInt8, _ payload: [UInt8]) -> [UInt8] {
    [first, 0x80 | UInt8(payload.count)] + mask + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
  }

  @Test func rfc6455Examples() throws {
    let server = try channel(.server)
    // §5.7: a single-frame unmasked text message (what the server writes).
    #expect(try encoded(server, WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: hello))) == [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
    // A single-frame masked text message (what a client writes), read by the server.
    let masked: [UInt8] = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
    #expect(clientFrame(0x81, hello) == masked)
    let read = try frames(server, masked)
    #expect(read.count == 1 && read.first?.opcode == .text && read.first.map { Array($0.unmaskedData.readableBytesView) } == hello)
    // Unmasked ping; the client's masked pong (the encoder masks with the frame's key).
    #expect(try encoded(server, WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer(bytes: hello))) == [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f])
    let client = try channel(.client)
    let pong = WebSocketFrame(fin: true, opcode: .pong, maskKey: WebSocketMaskingKey(mask), data: ByteBuffer(bytes: hello))
    #expect(try encoded(client, pong) == [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58])
    // 256 bytes binary in a single unmasked frame: 16-bit length; 64 KiB: 64-bit length.
    let e256 = try encoded(server, WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: [UInt8](repeating: 0xab, count: 256))))
    #expect(Array(e256.prefix(4)) == [0x82, 0x7e, 0x01, 0x00])
    let e64k = try encoded(server, WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer(bytes: [UInt8](repeating: 1, count: 65536))))
    #expect(Array(e64k.prefix(10)) == [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0])
    #expect(e64k.count == 65546)
    // §1.3: the handshake's accept key.
    #expect(WebSocket.acceptKey(for: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
  }

  @Test func fragmentsAreJoinedAroundAPing() throws {
    // §5.7's fragmented text message, masked as a client must, with a ping between the fragments
    // (control frames may interleave), then a close with status 1000; two bytes at a time.
    let f1 = clientFrame(0x01, Array("Hel".utf8))
    let ping = clientFrame(0x89, Array("p".utf8))
    let f2 = clientFrame(0x80, Array("lo".utf8))
    let close = clientFrame(0x88, [0x03, 0xe8])
    let read = try frames(try channel(.server), f1 + ping + f2 + close, chunk: 2)
    #expect(read.map(\.opcode) == [.ping, .text, .connectionClose])
    #expect(read.map { Array($0.unmaskedData.readableBytesView) } == [Array("p".utf8), hello, [0x03, 0xe8]])
  }

  /// The server's connection on the handlers: the fragmented message read whole, the ping between its
  /// fragments answered (an unmasked pong), the client's close answered with a close (1000), then nil.
  @Test func theServerAnswersPingsAndTheClose() async throws {
    let channel = NIOAsyncTestingChannel()
    let connection = try await channel.eventLoop.submit {
      try WebSocket.addFrameHandlers(to: channel, role: .server)
      return try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel)
    }.get()
    let input = clientFrame(0x01, Array("Hel".utf8)) + clientFrame(0x89, Array("p".utf8)) + clientFrame(0x80, Array("lo".utf8))
      + clientFrame(0x88, [0x03, 0xe8])
    try await channel.writeInbound(ByteBuffer(bytes: input))
    try await connection.executeThenClose { inbound, outbound in
      let ws = WebSocketConnection(role: .server, outbound: outbound, channel: channel)
      let frames = WebSocketInbound(inbound)
      let message = try await ws.readMessage(from: frames)
      #expect(message?.opcode == .text && message?.payload == hello)
      #expect(try await ws.readMessage(from: frames) == nil)
      #expect(ws.didSendClose)
    }
    var out: [UInt8] = []
    while let b = try await channel.readOutbound(as: ByteBuffer.self) { out += b.readableBytesView }
    #expect(out == [0x8a, 0x01, 0x70, 0x88, 0x02, 0x03, 0xe8])
  }

  @Test func whatAClientMayNotSendIsRefused() throws {
    let bad: [(String, [UInt8])] = [
      ("unmasked", [0x82, 0x02, 1, 2]),
      ("reserved bit", clientFrame(0xc2, [1])),
      ("unknown opcode", clientFrame(0x83, [1])),
      ("fragmented control frame", clientFrame(0x09, [])),
      ("control frame over 125 bytes", [0x89, 0xfe, 0x00, 0x7e] + mask + [UInt8](repeating: 0, count: 126)),
      ("frame over 16 MiB", [0x82, 0xff, 0, 0, 0, 0, 1, 0, 0, 1] + mask),
      ("continuation without a message", clientFrame(0x80, [1])),
    ]
    for (what, bytes) in bad {
      let channel = try channel(.server)
      #expect(throws: (any Error).self, "\(what)") { _ = try frames(channel, bytes) }
    }
  }
}

struct KubeStatusTests {
  @Test func v4StatusJSONAsKubeletWritesIt() {
    #expect(String(decoding: KubeStatus.successStatus.json(), as: UTF8.self) == #"{"metadata":{},"status":"Success"}"#)
    let failure = KubeStatus.exitCode(3, command: ["sh", "-c", "exit 3"])
    #expect(
      String(decoding: failure.json(), as: UTF8.self)
        == #"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#)
    #expect(
      String(decoding: KubeStatus.internalError("no such container \"a<b\"").json(), as: UTF8.self)
        == #"{"metadata":{},"status":"Failure","message":"Internal error occurred: no such container \"a\u003cb\"","reason":"InternalError","details":{"causes":[{"message":"no such container \"a\u003cb\""}]},"code":500}"#)
    // The v1–v3 body: nothing on success, the message otherwise.
    #expect(KubeStatus.successStatus.text().isEmpty)
    #expect(String(decoding: failure.text(), as: UTF8.self).hasSuffix("exit code 3"))
    let parsed = KubeStatus.parse(failure.json())
    #expect(parsed?.success == false)
    #expect(parsed?.exitCode == 3)
  }

  @Test func resizeObjectsSplitFromAStream() {
    var splitter = JSONObjectSplitter()
    var objects = splitter.feed(Array(#"{"Width":80,"Hei"#.utf8))
    #expect(objects.isEmpty)
    // Braces inside strings do not count; an object with a non-number size is skipped.
    objects = splitter.feed(Array(#"ght":24} {"width":100,"height":"}{"}"#.utf8))
    #expect(objects.count == 2)
    objects += splitter.feed(Array(#"{"Width":132,"Height":50}"#.utf8))
    #expect(objects.compactMap(TerminalSize.parse) == [TerminalSize(width: 80, height: 24), TerminalSize(width: 132, height: 50)])
  }
}

struct StreamTokenCacheTests {
  @Test func tokensAreOneUseAndExpire() throws {
    let clock = Mutex(ContinuousClock.now)
    let start = clock.withLock { $0 }
    let cache = StreamTokenCache(ttl: .seconds(60), now: { clock.withLock { $0 } })
    let request = StreamRequest.portForward(.init(podSandboxID: "abc", ports: [80]))
    let t1 = try cache.insert(request)
    let t2 = try cache.insert(request)
    #expect(t1.count == 32 && t1 != t2)
    #expect(cache.take(t1) == request)
    #expect(cache.take(t1) == nil)  // used
    #expect(cache.take("nope") == nil)
    clock.withLock { $0 = start + .seconds(61) }
    #expect(cache.take(t2) == nil)  // expired
    #expect(cache.count == 0)
  }
}
