// The streaming server's request-head handlers (HTTPHead.swift) in an EmbeddedChannel: NIOHTTP1 decodes
// the head, the router answers or upgrades, and the bytes after an upgrade request's head reach the next
// handler; the 16 KiB limit and the head timeout.
import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing

@testable import LiftoffStreaming

final class Received: ChannelInboundHandler {
  typealias InboundIn = ByteBuffer
  var bytes: [UInt8] = []
  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    var b = unwrapInboundIn(data)
    bytes += b.readBytes(length: b.readableBytes) ?? []
  }
}

struct HTTPHeadTests {
  let request = StreamRequest.portForward(.init(podSandboxID: "p", ports: []))

  /// A channel with the handlers; /up upgrades to SPDY, anything else is 404.
  func channel(received: Received, timeout: TimeAmount = .seconds(10)) throws -> (EmbeddedChannel, EventLoopFuture<StreamingUpgrade>) {
    let channel = EmbeddedChannel()
    let request = self.request
    let outcome = try HTTPHeadRouter.install(
      on: channel, headTimeout: timeout,
      route: { head in
        HTTPHead.path(head.uri) == "/up" && HTTPHead.upgradeProtocol(head) == "spdy/3.1"
          ? .spdy(request, protocol: "portforward.k8s.io") : .refuse(.notFound, body: "no streaming endpoint at \(head.uri)")
      },
      handOff: { _, channel in
        try channel.pipeline.syncOperations.addHandler(received)
        return .none
      })
    try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    return (channel, outcome)
  }

  func written(_ channel: EmbeddedChannel) throws -> String {
    var out: [UInt8] = []
    while let part = try channel.readOutbound(as: IOData.self) {
      if case .byteBuffer(var b) = part { out += b.readBytes(length: b.readableBytes) ?? [] }
    }
    return String(decoding: out, as: UTF8.self)
  }

  @Test func anUpgradeHandsOnTheBytesAfterTheHead() throws {
    let received = Received()
    let (channel, _) = try channel(received: received)
    let head = "POST /up?x=1 HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n"
    try channel.writeInbound(ByteBuffer(string: head + "\u{1}\u{2}"))
    channel.embeddedEventLoop.run()
    try channel.writeInbound(ByteBuffer(string: "\u{3}"))
    let response = try written(channel)
    #expect(response.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(response.debugDescription)")
    #expect(response.lowercased().contains("x-stream-protocol-version: portforward.k8s.io\r\n"))
    #expect(received.bytes == [1, 2, 3])
    #expect(channel.isActive)
    _ = try? channel.finish()
  }

  @Test func errorsAreAnsweredAndTheConnectionClosed() throws {
    for (input, status) in [
      ("GET /nope HTTP/1.1\r\n\r\n", "404 Not Found"),
      ("\u{1}\u{2}\r\n\r\n", "400 Bad Request"),
      ("GET /x HTTP/1.1\r\nX-Filler: \(String(repeating: "a", count: 20000))\r\n\r\n", "431 Request Header Fields Too Large"),
    ] {
      let received = Received()
      let (channel, _) = try channel(received: received)
      // In pieces, as a network delivers a large head.
      var rest = Substring(input)
      while !rest.isEmpty && channel.isActive {
        try? channel.writeInbound(ByteBuffer(string: String(rest.prefix(1000))))
        rest = rest.dropFirst(1000)
      }
      channel.embeddedEventLoop.run()
      let response = try written(channel)
      #expect(response.hasPrefix("HTTP/1.1 \(status)\r\n"), "\(response.debugDescription)")
      #expect(response.contains("Connection: close\r\n"))
      #expect(!channel.isActive)
      #expect(received.bytes.isEmpty)
    }
  }

  @Test func noHeadInTimeClosesTheConnection() throws {
    let (channel, outcome) = try channel(received: Received(), timeout: .seconds(10))
    try channel.writeInbound(ByteBuffer(string: "GET /up HTTP/1.1\r\n"))
    channel.embeddedEventLoop.advanceTime(by: .seconds(9))
    #expect(channel.isActive)
    channel.embeddedEventLoop.advanceTime(by: .seconds(1))
    #expect(!channel.isActive)
    guard case .none = try outcome.wait() else { Issue.record("an outcome other than none"); return }
    #expect(try written(channel).isEmpty)
  }

  /// An upgrade request whose body never ends is not held past the timeout either.
  @Test func aRequestThatNeverEndsIsClosedAtTheTimeout() throws {
    let (channel, _) = try channel(received: Received(), timeout: .seconds(10))
    try channel.writeInbound(
      ByteBuffer(string: "POST /up HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 100\r\n\r\nabc"))
    channel.embeddedEventLoop.advanceTime(by: .seconds(10))
    #expect(!channel.isActive)
    #expect(try written(channel).isEmpty)
  }
}
