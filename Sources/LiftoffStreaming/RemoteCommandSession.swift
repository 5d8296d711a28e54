// Exec and attach sessions: the Kubernetes remote-command protocols on SPDY streams or WebSocket
// channels, between the client and a StreamingBackend.
//
// SPDY (X-Stream-Protocol-Version): the client opens one stream per `streamType` header — error,
// stdin, stdout, stderr (not with a tty), resize (v3+, with a tty) — and the session starts once all it
// asked for are open (kubelet counts them the same way). stdout/stderr end with FIN, then the result is
// written on the error stream and it ends too:
//   v4:       Status JSON (KubeStatus), the exit code as the ExitCode cause
//   v1–v3:    nothing on success, the message otherwise
// resize carries JSON objects back to back: {"Width":80,"Height":24}.
//
// WebSocket (Sec-WebSocket-Protocol): one binary message per write, its first byte the channel:
//   0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 adds 255 = close: [255, channel] half-closes
//   that channel (the client's end of stdin). The server first sends an empty message on the lowest
//   channel it writes (stdout, else stderr, else error), then the status on channel 3, then closes.
import Foundation
import LiftoffCore
import Logging

enum RemoteCommandVersion: Int, Sendable, Comparable {
  case v1 = 1, v2, v3, v4, v5

  init(spdyProtocol p: String) {
    switch p {
    case "v4.channel.k8s.io": self = .v4
    case "v3.channel.k8s.io": self = .v3
    case "v2.channel.k8s.io": self = .v2
    default: self = .v1
    }
  }

  init(webSocketProtocol p: String) {
    switch p {
    case "v5.channel.k8s.io": self = .v5
    case "v4.channel.k8s.io": self = .v4
    default: self = .v1
    }
  }

  var jsonStatus: Bool { self >= .v4 }
  static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

struct RemoteCommandSession: Sendable {
  let request: StreamRequest
  let version: RemoteCommandVersion
  let backend: any StreamingBackend
  let log: Logger

  private var options: (stdin: Bool, stdout: Bool, stderr: Bool, tty: Bool) {
    switch request {
    case .exec(let e): (e.stdin, e.stdout, e.stderr, e.tty)
    case .attach(let a): (a.stdin, a.stdout, a.stderr, a.tty)
    case .portForward: (false, false, false, false)
    }
  }

  // MARK: SPDY

  func runSPDY(_ spdy: SPDYConnection, streamCreationTimeout: Duration) async {
    let o = options
    let expected = 1 + (o.stdin ? 1 : 0) + (o.stdout ? 1 : 0) + (o.stderr ? 1 : 0) + (o.tty && version >= .v3 ? 1 : 0)
    let known: Set<String> = ["error", "stdin", "stdout", "stderr", "resize"]
    let collected: [String: SPDYStream]? = await withTaskGroup(of: [String: SPDYStream]?.self) { group in
      group.addTask {
        var streams: [String: SPDYStream] = [:]
        var count = 0
        for await stream in spdy.incoming {
          guard let type = stream.streamType, known.contains(type) else {
            await stream.reset()
            continue
          }
          streams[type] = stream
          count += 1
          if count == expected { return streams }
        }
        return nil
      }
      group.addTask {
        try? await Task.sleep(for: streamCreationTimeout)
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      return first
    }
    guard let streams = collected, let errorStream = streams["error"] else {
      log.warning("streaming client did not open its streams", metadata: ["expected": "\(expected)"])
      return
    }
    let stdout = o.stdout ? streams["stdout"] : nil
    let stderr = o.stderr ? streams["stderr"] : nil
    let io = StreamIO(
      stdin: o.stdin ? streams["stdin"].map { Self.inbound(of: $0) } : nil,
      stdout: stdout.map { s in OutputSink { try await s.write($0) } },
      stderr: stderr.map { s in OutputSink { try await s.write($0) } },
      resize: o.tty ? streams["resize"].map { Self.resizeEvents(Self.inbound(of: $0)) } : nil)
    let status = await runBackend(io)
    let body = version.jsonStatus ? status.json() : status.text()
    // Not cancelled with the session (server shutdown): the client still gets the outcome.
    await Task {
      await stdout?.closeWrite()
      await stderr?.closeWrite()
      try? await errorStream.write(body)
      await errorStream.closeWrite()
      for s in streams.values { await s.closeWrite() }
    }.value
  }

  // MARK: WebSocket

  /// The client's channels until it closes; the outcome on channel 3, then the close frame (this
  /// side's half-close), then the client's close frame or EOF, at most `closeTimeout`, then the
  /// transport closes.
  func runWebSocket(_ ws: WebSocketConnection, frames: WebSocketInbound, closeTimeout: Duration) async {
    let o = options
    let (stdinBytes, stdinInput) = AsyncStream.makeStream(of: [UInt8].self)
    let (resizeBytes, resizeInput) = AsyncStream.makeStream(of: [UInt8].self)
    let send: @Sendable (UInt8, [UInt8]) async throws -> Void = { channel, data in
      try await ws.sendBinary([channel] + data)
    }
    let io = StreamIO(
      stdin: o.stdin ? stdinBytes : nil,
      stdout: o.stdout ? OutputSink { try await send(1, $0) } : nil,
      stderr: o.stderr ? OutputSink { try await send(2, $0) } : nil,
      resize: o.tty ? Self.resizeEvents(resizeBytes) : nil)
    if !o.stdin { stdinInput.finish() }
    try? await send(o.stdout ? 1 : o.stderr ? 2 : 3, [])
    let version = self.version
    // Fired when the read loop ends: the client's close frame, EOF or a protocol error.
    let peerClosed = OneShotEvent()
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        let status = await self.runBackend(io)
        let body = version.jsonStatus ? status.json() : status.text()
        // Not cancelled with the session (server shutdown): the client still gets the outcome.
        await Task {
          if !body.isEmpty { try? await send(3, body) }
          await ws.close()
        }.value
        await peerClosed.wait(upTo: closeTimeout)
        await ws.closeTransport()
      }
      do {
        while let message = try await ws.readMessage(from: frames) {
          guard let channel = message.payload.first else { continue }
          let data = Array(message.payload.dropFirst())
          switch channel {
          case 0: stdinInput.yield(data)
          case 4: resizeInput.yield(data)
          case 255 where version >= .v5:
            if data.first == 0 { stdinInput.finish() }
            if data.first == 4 { resizeInput.finish() }
          default: break
          }
        }
      } catch {
        log.debug("websocket read ended", metadata: ["error": "\(error)"])
      }
      peerClosed.fire()
      stdinInput.finish()
      resizeInput.finish()
      group.cancelAll()
    }
  }

  // MARK: shared

  private func runBackend(_ io: StreamIO) async -> KubeStatus {
    switch request {
    case .exec(let e):
      do {
        let code = try await backend.exec(containerID: e.containerID, cmd: e.cmd, tty: e.tty, io: io)
        return code == 0 ? .successStatus : .exitCode(code, command: e.cmd)
      } catch {
        if Task.isCancelled { return .internalError("exec in container \(e.containerID) ended: the streaming session was closed") }
        return .internalError("error executing command in container: \(error)")
      }
    case .attach(let a):
      do {
        try await backend.attach(containerID: a.containerID, tty: a.tty, io: io)
        return .successStatus
      } catch {
        if Task.isCancelled { return .internalError("attach to container \(a.containerID) ended: the streaming session was closed") }
        return .internalError("error attaching to container: \(error)")
      }
    case .portForward:
      return .internalError("port-forward is not a remote command")
    }
  }

  /// A stream's inbound bytes, telling the peer (WINDOW_UPDATE) as they are handed on.
  static func inbound(of stream: SPDYStream) -> AsyncStream<[UInt8]> {
    AsyncStream { continuation in
      let task = Task {
        for await chunk in stream.inbound {
          continuation.yield(chunk)
          await stream.consumed(chunk.count)
        }
        continuation.finish()
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }

  /// Terminal sizes from a byte stream of back-to-back JSON objects.
  static func resizeEvents(_ bytes: AsyncStream<[UInt8]>) -> AsyncStream<TerminalSize> {
    AsyncStream { continuation in
      let task = Task {
        var splitter = JSONObjectSplitter()
        for await chunk in bytes {
          for object in splitter.feed(chunk) {
            if let size = TerminalSize.parse(object) { continuation.yield(size) }
          }
        }
        continuation.finish()
      }
      continuation.onTermination = { _ in task.cancel() }
    }
  }
}

extension TerminalSize {
  /// One resize object; Go decodes field names case-insensitively, so do we.
  static func parse(_ bytes: [UInt8]) -> TerminalSize? {
    guard let obj = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else { return nil }
    var width: Int?
    var height: Int?
    for (k, v) in obj {
      guard let n = (v as? NSNumber)?.intValue else { continue }
      switch k.lowercased() {
      case "width": width = n
      case "height": height = n
      default: break
      }
    }
    guard let width, let height, (0...65535).contains(width), (0...65535).contains(height) else { return nil }
    return TerminalSize(width: UInt16(width), height: UInt16(height))
  }
}

/// Splits a byte stream into top-level JSON objects ({…}), as a json.Decoder reading a stream does.
struct JSONObjectSplitter {
  static let maxObject = 4096
  private var current: [UInt8] = []
  private var depth = 0
  private var inString = false
  private var escaped = false

  mutating func feed(_ bytes: [UInt8]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    for b in bytes {
      if depth == 0 {
        if b == UInt8(ascii: "{") {
          current = [b]
          depth = 1
        }
        continue
      }
      current.append(b)
      if current.count > Self.maxObject {
        current = []
        depth = 0
        inString = false
        continue
      }
      if inString {
        if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
        continue
      }
      switch b {
      case UInt8(ascii: "\""): inString = true
      case UInt8(ascii: "{"): depth += 1
      case UInt8(ascii: "}"):
        depth -= 1
        if depth == 0 {
          out.append(current)
          current = []
        }
      default: break
      }
    }
    return out
  }
}
