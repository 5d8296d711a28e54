// The streaming server against clients that are not kubelet or crictl, over real sockets on
// 127.0.0.1: one that connects and sends nothing, one that sends its request a byte at a time
// (slowloris), more connections than the cap, and a request head larger than 16 KiB.
import Foundation
@testable import LiftoffCRI
@testable import LiftoffStreaming
#if canImport(Glibc)
  import Glibc
#endif
import NIOCore
import Testing

@Suite(.serialized) struct StreamingServerLimitsTests {
  /// Whether the server closed the connection within `within`, and how long that took.
  static func closedByServer(_ inbound: NIOAsyncChannelInboundStream<ByteBuffer>, within: Duration) async -> (closed: Bool, after: Duration) {
    let start = ContinuousClock.now
    let closed = await withTaskGroup(of: Bool.self) { group in
      group.addTask {
        do { for try await _ in inbound {} } catch {}
        return !Task.isCancelled
      }
      group.addTask {
        try? await Task.sleep(for: within)
        return false
      }
      let first = await group.next()!
      group.cancelAll()
      return first
    }
    return (closed, ContinuousClock.now - start)
  }

  @Test func aSilentClientIsDroppedAfterTheHeadTimeout() async throws {
    try await withStreamingServer(headTimeout: .seconds(1)) { server, _ in
      let channel = try await StreamingTestClient.connect(port: server.port!)
      let (closed, after) = try await channel.executeThenClose { inbound, _ in await Self.closedByServer(inbound, within: .seconds(6)) }
      #expect(closed, "a connection that sent nothing was still open after 6 s")
      #expect(after >= .milliseconds(900) && after < .seconds(3), "closed after \(after)")
    }
  }

  @Test func aClientSendingAByteAtATimeIsDroppedAtTheHeadTimeout() async throws {
    try await withStreamingServer(headTimeout: .seconds(1)) { server, _ in
      let channel = try await StreamingTestClient.connect(port: server.port!)
      let request = Array("GET /exec/0123456789 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: SPDY/3.1\r\n\r\n".utf8)
      let (closed, after, sent) = try await channel.executeThenClose { inbound, outbound in
        let trickle = Task {
          var n = 0
          for b in request {
            do { try await outbound.write(ByteBuffer(bytes: [b])) } catch { break }
            n += 1
            try? await Task.sleep(for: .milliseconds(200))
          }
          return n
        }
        let (closed, after) = await Self.closedByServer(inbound, within: .seconds(6))
        trickle.cancel()
        return (closed, after, await trickle.value)
      }
      #expect(closed, "a client trickling its head was still connected after 6 s")
      #expect(after < .seconds(3), "closed after \(after)")
      #expect(sent < request.count, "the whole head went through (\(sent) bytes)")
    }
  }

  /// With a cap of 3: three idle connections are held, a fourth gets 503 at once; when one of the
  /// three goes, a new connection is served again.
  @Test func connectionsOverTheCapAreRefused() async throws {
    try await withStreamingServer(headTimeout: .seconds(30), maxConnections: 3) { server, _ in
      let port = server.port!
      var held = try (0..<3).map { _ in try Self.idleConnection(port: port) }
      try await Task.sleep(for: .milliseconds(300))
      let refused = try await Self.rawWithTimeout(port: port, "GET /nope HTTP/1.1\r\n\r\n")
      #expect(refused?.status == 503, "\(String(describing: refused))")
      #expect(refused?.body.contains("too many streaming connections (at most 3)") == true)
      close(held.removeLast())
      var served: Int?
      for _ in 0..<20 where served == nil || served == 503 {
        try await Task.sleep(for: .milliseconds(100))
        served = try await Self.rawWithTimeout(port: port, "GET /nope HTTP/1.1\r\n\r\n")?.status
      }
      #expect(served == 404)
      for fd in held { close(fd) }
    }
  }

  @Test func aHeadOver16KiBIs431() async throws {
    try await withStreamingServer { server, _ in
      let big = "GET /exec/x HTTP/1.1\r\nX-Filler: \(String(repeating: "a", count: 20000))\r\n\r\n"
      let r = try await Self.rawWithTimeout(port: server.port!, big)
      #expect(r?.status == 431, "\(String(describing: r))")
    }
  }

  /// A TCP connection to the server that sends nothing (a plain socket: nothing reads it).
  static func idleConnection(port: Int) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    var sin = sockaddr_in()
    sin.sin_family = sa_family_t(AF_INET)
    sin.sin_port = UInt16(port).bigEndian
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr)
    let rc = withUnsafePointer(to: &sin) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard fd >= 0, rc == 0 else { throw POSIXError(.ECONNREFUSED) }
    return fd
  }

  /// A raw request's response, or nil when none came within 3 s (the client gives up and closes).
  static func rawWithTimeout(port: Int, _ request: String) async throws -> (status: Int, headers: [String: String], body: String)? {
    let channel = try await StreamingTestClient.connect(port: port)
    let giveUp = Task {
      try await Task.sleep(for: .seconds(3))
      try? await channel.channel.close()
    }
    defer { giveUp.cancel() }
    return try await channel.executeThenClose { inbound, outbound in
      var it = inbound.makeAsyncIterator()
      let reader = ByteReader {
        guard var b = try await it.next() else { return nil }
        return b.readBytes(length: b.readableBytes)
      }
      try? await outbound.write(ByteBuffer(string: request))
      return try? await StreamingTestClient.readResponse(reader)
    }
  }
}
