// How the streaming server ends a connection: it half-closes (SPDY GOAWAY and a FIN; a WebSocket close
// frame), then waits for the client's close or EOF — an event, bounded by `closeTimeout` — and never
// sleeps a fixed grace. The server's deadline is an hour where a test checks that the client's close
// ends the connection, and 200 ms where it checks the deadline itself.
import Foundation
@testable import LiftoffCRI
@testable import LiftoffStreaming
import NIOCore
import NIOWebSocket
import Testing

@Suite(.serialized) struct StreamingServerCloseTests {
  /// Until the server has no connection open (the test's time limit bounds it).
  static func serverFinished(_ server: StreamingServer) async throws {
    while server.openConnectionCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
  }

  /// A client that, after the outcome, waits for the server to end its side: the FIN comes right after
  /// the session (the old code slept 5 s after its GOAWAY), and the connection is done once the client closes.
  @Test(.timeLimit(.minutes(1))) func spdyServerHalfClosesAfterTheSession() async throws {
    try await withStreamingServer(closeTimeout: .seconds(3600)) { server, _ in
      let url = try server.register(exec(["true"], stdin: false))
      let start = ContinuousClock.now
      let sawServerEnd = try await StreamingTestClient.withSPDY(url, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        let result = try await spdyRemoteCommand(spdy, stdin: nil)
        #expect(KubeStatus.parse(result.status)?.success == true)
        // This side is still open: only the server's half-close ends the client's reader here.
        for await _ in spdy.incoming {}
        return spdy.isClosed
      }
      #expect(sawServerEnd)
      try await Self.serverFinished(server)
      #expect(ContinuousClock.now - start < .seconds(4), "the session took as long as the old 5 s grace")
    }
  }

  /// WebSocket: the client answers the server's close frame and closes: the connection ends then, not
  /// at the deadline.
  @Test(.timeLimit(.minutes(1))) func webSocketSessionEndsOnTheClientsClose() async throws {
    try await withStreamingServer(closeTimeout: .seconds(3600)) { server, _ in
      let url = try server.register(exec(["sh", "-c", "echo hi"], stdin: false, stderr: false))
      let result = try await StreamingTestClient.withWebSocket(url, protocols: ["v5.channel.k8s.io"]) { ws, _, messages in
        try await webSocketRemoteCommand(ws, messages, stdin: nil, closeStdin: false)
      }
      #expect(result.stdoutText == "hi\n")
      try await Self.serverFinished(server)
    }
  }

  /// Port-forward inside a WebSocket: the client's close ends the tunnel at once.
  @Test(.timeLimit(.minutes(1))) func tunnelledPortForwardEndsOnTheClientsClose() async throws {
    let echo = try EchoServer()
    defer { echo.stop() }
    try await withStreamingServer(closeTimeout: .seconds(3600)) { server, _ in
      let url = try server.register(.portForward(.init(podSandboxID: "sandbox", ports: [])))
      try await StreamingTestClient.withTunnelledSPDY(url) { spdy in
        let (data, error) = try await forwardOnce(spdy, port: echo.port, requestID: 0, payload: Array("ping".utf8))
        #expect(error == "")
        #expect(data == Array("ping".utf8))
      }
      try await Self.serverFinished(server)
    }
  }

  /// A client that neither answers the close frame nor closes: the server closes at its deadline, while
  /// the client still holds the connection.
  @Test(.timeLimit(.minutes(1))) func aClientThatNeverClosesIsClosedAtTheDeadline() async throws {
    try await withStreamingServer(closeTimeout: .milliseconds(200)) { server, _ in
      let url = try server.register(exec(["true"], stdin: false, stderr: false))
      let (port, path) = StreamingTestClient.split(url)
      let (channel, _) = try await StreamingTestClient.connectWebSocket(port: port, path: path, protocols: ["v5.channel.k8s.io"])
      try await channel.executeThenClose { inbound, _ in
        // Frames as they come, unanswered: the status, then the close frame, then the end.
        var opcodes: [WebSocketOpcode] = []
        for try await frame in inbound { opcodes.append(frame.opcode) }
        #expect(opcodes.last == .connectionClose, "\(opcodes)")
        // The end came from the server: its connection is over while this side has not closed.
        try await Self.serverFinished(server)
      }
    }
  }
}
