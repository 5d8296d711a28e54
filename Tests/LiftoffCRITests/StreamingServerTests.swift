// The streaming server for real: listening on 127.0.0.1, HostProcessBackend running host processes
// (posix_spawn, pipes or a pty) and connecting to real TCP ports, driven over SPDY and WebSocket by
// the test client (StreamingTestClient), as client-go, crictl and kubelet's proxy drive it.
import Foundation
@testable import LiftoffCRI
@testable import LiftoffStreaming
import LiftoffCore
import Logging
import Testing

func withStreamingServer<T>(
  tokenTTL: Duration = .seconds(60), headTimeout: Duration = .seconds(10), maxConnections: Int = 256,
  closeTimeout: Duration = .seconds(5),
  _ body: (StreamingServer, HostProcessBackend) async throws -> T
) async throws -> T {
  let backend = HostProcessBackend()
  var logger = Logger(label: "streaming-test")
  logger.logLevel = .error
  let server = StreamingServer(
    address: "127.0.0.1", port: 0, backend: backend, logger: logger, tokenTTL: tokenTTL, headTimeout: headTimeout,
    maxConnections: maxConnections, closeTimeout: closeTimeout)
  try await server.start()
  do {
    let r = try await body(server, backend)
    await server.shutdown()
    return r
  } catch {
    await server.shutdown()
    throw error
  }
}

func exec(_ cmd: [String], tty: Bool = false, stdin: Bool = true, stderr: Bool = true) -> StreamRequest {
  .exec(.init(containerID: "host", cmd: cmd, tty: tty, stdin: stdin, stdout: true, stderr: stderr))
}

struct StreamingServerTests {
  @Test func spdyExecStdinStdoutStderrAndExitCode() async throws {
    try await withStreamingServer { server, _ in
      let url = try server.register(exec(["sh", "-c", "cat; echo oops >&2; exit 3"]))
      #expect(url.hasPrefix("http://127.0.0.1:\(server.port!)/exec/"))
      let result = try await StreamingTestClient.withSPDY(url, protocols: ["v4.channel.k8s.io", "v3.channel.k8s.io"]) { spdy, negotiated in
        #expect(negotiated == "v4.channel.k8s.io")
        return try await spdyRemoteCommand(spdy, stdin: Array("hello over spdy\n".utf8))
      }
      #expect(result.stdoutText == "hello over spdy\n")
      #expect(result.stderrText == "oops\n")
      let status = try #require(KubeStatus.parse(result.status), "\(String(decoding: result.status, as: UTF8.self))")
      #expect(!status.success)
      #expect(status.exitCode == 3)

      // Exit 0: Success.
      let ok = try server.register(exec(["true"], stdin: false))
      let okResult = try await StreamingTestClient.withSPDY(ok, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: nil)
      }
      #expect(String(decoding: okResult.status, as: UTF8.self) == #"{"metadata":{},"status":"Success"}"#)
    }
  }

  @Test func spdyOlderProtocolsWriteTheErrorAsText() async throws {
    try await withStreamingServer { server, _ in
      for proto in ["v2.channel.k8s.io", "channel.k8s.io"] {
        let url = try server.register(exec(["sh", "-c", "echo out; exit 5"], stdin: false))
        let result = try await StreamingTestClient.withSPDY(url, protocols: [proto]) { spdy, negotiated in
          #expect(negotiated == proto)
          return try await spdyRemoteCommand(spdy, stdin: nil)
        }
        #expect(result.stdoutText == "out\n")
        #expect(String(decoding: result.status, as: UTF8.self).hasSuffix("exit code 5"), "\(proto)")
      }
      // Success writes nothing on v2.
      let url = try server.register(exec(["true"], stdin: false))
      let r = try await StreamingTestClient.withSPDY(url, protocols: ["v2.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: nil)
      }
      #expect(r.status.isEmpty)
    }
  }

  @Test func spdyExecWithTTYAndResize() async throws {
    try await withStreamingServer { server, _ in
      let url = try server.register(exec(["sh", "-c", "read line; stty size; echo got:$line; exit 7"], tty: true))
      let result = try await StreamingTestClient.withSPDY(url, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(
          spdy, stdin: Array("abc\n".utf8), tty: true, resize: [TerminalSize(width: 123, height: 45)],
          stdinDelay: .milliseconds(300), closeStdin: false)
      }
      // The terminal echoes the input, reports the size we sent, and maps \n to \r\n.
      #expect(result.stdoutText.contains("45 123\r\n"), "\(result.stdoutText.debugDescription)")
      #expect(result.stdoutText.contains("got:abc\r\n"), "\(result.stdoutText.debugDescription)")
      #expect(result.stderr.isEmpty)
      #expect(KubeStatus.parse(result.status)?.exitCode == 7)
    }
  }

  @Test func execOfAMissingCommandIsAFailureStatus() async throws {
    try await withStreamingServer { server, _ in
      let url = try server.register(exec(["no-such-command-liftoff"], stdin: false))
      let result = try await StreamingTestClient.withSPDY(url, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: nil)
      }
      let status = try #require(KubeStatus.parse(result.status))
      #expect(!status.success)
      #expect(status.exitCode == nil)
      #expect(status.message.contains("no-such-command-liftoff"))
    }
  }

  @Test func webSocketV5ExecWithStdinClose() async throws {
    try await withStreamingServer { server, _ in
      let payload = randomBytes(300_000)
      let url = try server.register(exec(["sh", "-c", "cat; echo done >&2; exit 4"]))
      let result = try await StreamingTestClient.withWebSocket(url, protocols: ["v5.channel.k8s.io", "v4.channel.k8s.io"]) { ws, negotiated, messages in
        #expect(negotiated == "v5.channel.k8s.io")
        // cat only ends because of the v5 close signal for stdin.
        return try await webSocketRemoteCommand(ws, messages, stdin: payload, closeStdin: true)
      }
      #expect(result.stdout == payload)
      #expect(result.stderrText == "done\n")
      #expect(KubeStatus.parse(result.status)?.exitCode == 4)
    }
  }

  @Test func webSocketV4ExecWithTTY() async throws {
    try await withStreamingServer { server, _ in
      let url = try server.register(exec(["sh", "-c", "read line; stty size; echo got:$line"], tty: true))
      let result = try await StreamingTestClient.withWebSocket(url, protocols: ["v4.channel.k8s.io"]) { ws, negotiated, messages in
        #expect(negotiated == "v4.channel.k8s.io")
        return try await webSocketRemoteCommand(
          ws, messages, stdin: Array("xyz\n".utf8), closeStdin: false, resize: [TerminalSize(width: 90, height: 30)],
          stdinDelay: .milliseconds(300))
      }
      #expect(result.stdoutText.contains("30 90\r\n"), "\(result.stdoutText.debugDescription)")
      #expect(result.stdoutText.contains("got:xyz\r\n"))
      #expect(String(decoding: result.status, as: UTF8.self) == #"{"metadata":{},"status":"Success"}"#)
    }
  }

  // The time limit turns a hang (an attach that never ends) into a failure, not a stuck CI job.
  @Test(.timeLimit(.minutes(1))) func attachSeveralClientsOverSPDYAndWebSocket() async throws {
    try await withStreamingServer { server, backend in
      let id = "attach-\(UInt32.random(in: 0...UInt32.max))"
      try backend.startProcess(id: id, cmd: ["sh", "-c", "while read l; do echo out:$l; echo err:$l >&2; done"], tty: false)
      let attach = StreamRequest.attach(.init(containerID: id, tty: false, stdin: true, stdout: true, stderr: true))
      let watcherURL = try server.register(.attach(.init(containerID: id, tty: false, stdin: false, stdout: true, stderr: true)))
      let writerURL = try server.register(attach)
      // A watcher (WebSocket) sees what another client (SPDY) types; both end when the process does.
      async let watched = StreamingTestClient.withWebSocket(watcherURL, protocols: ["v5.channel.k8s.io"]) { ws, _, messages in
        try await webSocketRemoteCommand(ws, messages, stdin: nil, closeStdin: false)
      }
      try await waitUntil { backend.attachedClients(id: id) == 1 }
      async let typed = StreamingTestClient.withSPDY(writerURL, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: Array("one\ntwo\n".utf8), closeStdin: false) {
          // The client's streams are open once it is attached; stdin goes only then.
          try await waitUntil { backend.attachedClients(id: id) == 2 }
        }
      }
      try await waitUntil { backend.attachedClients(id: id) == 2 }
      try await Task.sleep(for: .milliseconds(500))
      await backend.stopProcess(id: id)
      let (w, t) = try await (watched, typed)
      #expect(w.stdoutText == "out:one\nout:two\n")
      #expect(w.stderrText == "err:one\nerr:two\n")
      #expect(t.stdoutText == "out:one\nout:two\n")
      #expect(String(decoding: t.status, as: UTF8.self) == #"{"metadata":{},"status":"Success"}"#)

      // Attach to something that is not running: a failure status naming it.
      let missing = try server.register(.attach(.init(containerID: "nothing-here", tty: false, stdin: false, stdout: true, stderr: false)))
      let r = try await StreamingTestClient.withSPDY(missing, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: nil, stderr: false)
      }
      #expect(KubeStatus.parse(r.status)?.message.contains("nothing-here") == true)
    }
  }

  @Test func spdyPortForwardTwoPortsParallelLargeTransfers() async throws {
    let echo = try EchoServer()
    let invert = try EchoServer(transform: { ~$0 })
    defer {
      echo.stop()
      invert.stop()
    }
    try await withStreamingServer { server, _ in
      let url = try server.register(.portForward(.init(podSandboxID: "sandbox", ports: [echo.port, invert.port])))
      try await StreamingTestClient.withSPDY(url, protocols: ["portforward.k8s.io"]) { spdy, negotiated in
        #expect(negotiated == "portforward.k8s.io")
        try await withThrowingTaskGroup(of: Void.self) { group in
          for i in 0..<6 {
            group.addTask {
              let port = i % 2 == 0 ? echo.port : invert.port
              let payload = randomBytes(i < 2 ? 4 << 20 : 200_000)
              let (data, error) = try await forwardOnce(spdy, port: port, requestID: i, payload: payload)
              #expect(error == "")
              #expect(data.count == payload.count)
              #expect(data == (i % 2 == 0 ? payload : payload.map { ~$0 }), "connection \(i) differs")
            }
          }
          try await group.waitForAll()
        }
        // A port nobody listens on: the error stream says so, the session goes on.
        let (data, error) = try await forwardOnce(spdy, port: closedPort(), requestID: 99, payload: [1, 2, 3])
        #expect(data.isEmpty)
        #expect(error.contains("error forwarding port"), "\(error)")
        let again = try await forwardOnce(spdy, port: echo.port, requestID: 100, payload: Array("still here".utf8))
        #expect(again.data == Array("still here".utf8))
      }
    }
  }

  @Test func portForwardToAPeerWithoutFlowControl() async throws {
    // moby/spdystream never sends WINDOW_UPDATE: the server must not wait for one.
    let echo = try EchoServer()
    defer { echo.stop() }
    try await withStreamingServer { server, _ in
      let url = try server.register(.portForward(.init(podSandboxID: "sandbox", ports: [])))
      try await StreamingTestClient.withSPDY(url, protocols: ["portforward.k8s.io"], sendsWindowUpdates: false) { spdy, _ in
        let payload = randomBytes(1 << 20)
        let (data, error) = try await forwardOnce(spdy, port: echo.port, requestID: 1, payload: payload)
        #expect(error == "")
        #expect(data == payload)
      }
    }
  }

  @Test func webSocketTunnelledPortForward() async throws {
    let echo = try EchoServer()
    let invert = try EchoServer(transform: { ~$0 })
    defer {
      echo.stop()
      invert.stop()
    }
    try await withStreamingServer { server, _ in
      let url = try server.register(.portForward(.init(podSandboxID: "sandbox", ports: [])))
      try await StreamingTestClient.withTunnelledSPDY(url) { spdy in
        try await withThrowingTaskGroup(of: Void.self) { group in
          for i in 0..<4 {
            group.addTask {
              let port = i % 2 == 0 ? echo.port : invert.port
              let payload = randomBytes(i == 0 ? 3 << 20 : 100_000)
              let (data, error) = try await forwardOnce(spdy, port: port, requestID: i, payload: payload)
              #expect(error == "")
              #expect(data == (i % 2 == 0 ? payload : payload.map { ~$0 }), "connection \(i) differs")
            }
          }
          try await group.waitForAll()
        }
      }
    }
  }

  @Test func tokensAreOneUseAndBadRequestsGetClearErrors() async throws {
    try await withStreamingServer { server, _ in
      let port = server.port!
      let url = try server.register(exec(["true"], stdin: false))
      let path = StreamingTestClient.split(url).path
      // Not an upgrade: 400, and that consumed the token.
      let plain = try await StreamingTestClient.raw(port: port, "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
      #expect(plain.status == 400)
      #expect(plain.body.contains("upgrade"))
      let reused = try await StreamingTestClient.raw(port: port, StreamingTestClient.spdyUpgrade(path: path, protocols: ["v4.channel.k8s.io"]))
      #expect(reused.status == 404)
      #expect(reused.body.contains("unknown, used or expired"))
      // Unknown endpoint and token.
      #expect(try await StreamingTestClient.raw(port: port, "GET /nope HTTP/1.1\r\n\r\n").status == 404)
      #expect(try await StreamingTestClient.raw(port: port, StreamingTestClient.spdyUpgrade(path: "/exec/0123", protocols: ["v4.channel.k8s.io"])).status == 404)
      // A token used on the wrong endpoint is not accepted.
      let pf = try server.register(.portForward(.init(podSandboxID: "s", ports: [])))
      let wrong = "/exec/" + StreamingTestClient.split(pf).path.split(separator: "/").last!
      #expect(try await StreamingTestClient.raw(port: port, StreamingTestClient.spdyUpgrade(path: wrong, protocols: ["v4.channel.k8s.io"])).status == 404)
      // No common protocol: 403 listing what the server accepts.
      let noProto = try server.register(exec(["true"], stdin: false))
      let r = try await StreamingTestClient.raw(port: port, StreamingTestClient.spdyUpgrade(path: StreamingTestClient.split(noProto).path, protocols: ["v9.channel.k8s.io"]))
      #expect(r.status == 403)
      #expect(r.headers["x-accepted-stream-protocol-versions"] != nil)
      // Garbage.
      #expect(try await StreamingTestClient.raw(port: port, "\u{1}\u{2}\r\n\r\n").status == 400)
      // Bad registrations.
      #expect(throws: LiftoffError.self) { try server.register(exec([], stdin: false)) }
      #expect(throws: LiftoffError.self) {
        try server.register(.attach(.init(containerID: "c", tty: false, stdin: false, stdout: false, stderr: false)))
      }
    }
  }

  @Test func expiredTokenIs404() async throws {
    try await withStreamingServer(tokenTTL: .milliseconds(200)) { server, _ in
      let url = try server.register(exec(["true"], stdin: false))
      try await Task.sleep(for: .milliseconds(400))
      let r = try await StreamingTestClient.raw(port: server.port!, StreamingTestClient.spdyUpgrade(path: StreamingTestClient.split(url).path, protocols: ["v4.channel.k8s.io"]))
      #expect(r.status == 404)
    }
  }

  @Test func shutdownEndsOpenSessionsAndTheirProcesses() async throws {
    let backend = HostProcessBackend()
    var logger = Logger(label: "streaming-test")
    logger.logLevel = .warning
    let server = StreamingServer(backend: backend, logger: logger)
    try await server.start()
    let marker = "sleep 999.\(UInt32.random(in: 0...999_999))"
    let url = try server.register(exec(["sh", "-c", "\(marker); true"], stdin: false))
    let session = Task {
      try await StreamingTestClient.withSPDY(url, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: nil)
      }
    }
    try await waitUntil { processExists(containing: marker) }
    try await Task.sleep(for: .milliseconds(200))
    let started = ContinuousClock.now
    await server.shutdown()
    #expect(ContinuousClock.now - started < .seconds(10))
    let result = try await session.value
    // The client learns that the session ended, and the process is gone.
    let status = KubeStatus.parse(result.status)
    #expect(status?.success == false, "\(String(decoding: result.status, as: UTF8.self))")
    try await waitUntilGone(marker)
  }
}

/// Whether any process's command line contains `text`.
func processExists(containing text: String) -> Bool {
  let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
  for pid in entries where Int(pid) != nil {
    guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
    if String(decoding: data, as: UTF8.self).contains(text) { return true }
  }
  return false
}

/// Waits (up to 10 s) until no process's command line contains `text` on five scans of /proc in a
/// row, 20 ms apart. Once, in a full suite run, a wait for one clear scan returned and the check right
/// after it still saw the process (a scan that missed a live process's cmdline, most likely): absence
/// must hold, not be glimpsed.
func waitUntilGone(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
  let deadline = ContinuousClock.now + .seconds(10)
  var clear = 0
  while clear < 5 {
    clear = processExists(containing: text) ? 0 : clear + 1
    guard ContinuousClock.now < deadline else {
      Issue.record("a process with \"\(text)\" in its command line is still there after 10 s", sourceLocation: sourceLocation)
      return
    }
    try await Task.sleep(for: .milliseconds(20))
  }
}

/// Polls `condition` every 20 ms for up to 10 s.
func waitUntil(_ condition: @Sendable () -> Bool) async throws {
  let deadline = ContinuousClock.now + .seconds(10)
  while !condition() {
    guard ContinuousClock.now < deadline else {
      Issue.record("condition not reached in 10 s")
      return
    }
    try await Task.sleep(for: .milliseconds(20))
  }
}

/// The streaming server with `--stream-tls-cert/--stream-tls-key`: URLs are https, the certificate is the
/// one configured (curl verifies it against itself as CA), and plain HTTP to the port gets nowhere.
@Suite struct StreamingTLSTests {
  @Test func servesHTTPSWithTheConfiguredCertificate() async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-stream-tls-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    _ = try shell(
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 "
        + "-addext subjectAltName=IP:127.0.0.1 -keyout \(dir)/key.pem -out \(dir)/cert.pem 2>/dev/null")
    #expect(FileManager.default.fileExists(atPath: "\(dir)/cert.pem"))
    var logger = Logger(label: "streaming-tls-test")
    logger.logLevel = .warning
    let server = StreamingServer(
      address: "127.0.0.1", port: 0, tls: (certificate: "\(dir)/cert.pem", key: "\(dir)/key.pem"),
      backend: HostProcessBackend(), logger: logger)
    try await server.start()
    defer { Task { await server.shutdown() } }
    let url = try server.register(exec(["true"], stdin: false))
    #expect(url.hasPrefix("https://127.0.0.1:\(server.port!)/"), "\(url)")
    let bogus = "https://127.0.0.1:\(server.port!)/exec/not-a-token"
    let https = try shell("curl -s -o /dev/null -w '%{http_code}' --cacert \(dir)/cert.pem \(bogus)")
    #expect(https == "404", "\(https)")
    let plain = try shell("curl -s -o /dev/null -m 3 -w '%{http_code}' http://127.0.0.1:\(server.port!)/exec/not-a-token")
    #expect(plain != "404", "plain HTTP was answered: \(plain)")
    // A file that is not a certificate is an error naming the files.
    let broken = StreamingServer(
      address: "127.0.0.1", port: 0, tls: (certificate: "\(dir)/key.pem", key: "\(dir)/key.pem"),
      backend: HostProcessBackend(), logger: logger)
    do {
      try await broken.start()
      Issue.record("a key was accepted as a certificate")
      await broken.shutdown()
    } catch let e as LiftoffError {
      #expect(e.description.contains("\(dir)/key.pem"))
    }
  }
}
