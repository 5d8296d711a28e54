// Exec, Attach and PortForward end to end: a real liftoff-cri on a temporary socket, a grpc-swift
// client for the RPCs, the streaming test client for the URLs they return (SPDY and WebSocket),
// containers from the test registry's busybox image in a sandbox on the test's CNI bridge network.
import Foundation
import GRPCCore
@testable import LiftoffCRI
@testable import LiftoffStreaming
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct StreamingRPCTests {
  static func expectCode(_ code: RPCError.Code, _ what: String, _ body: () async throws -> Void) async {
    do {
      try await body()
      Issue.record("\(what) succeeded; expected \(code)")
    } catch let e as RPCError {
      #expect(e.code == code, "\(what): \(e)")
    } catch {
      Issue.record("\(what): \(error)")
    }
  }

  @Test(.needsRegistry, .timeLimit(.minutes(3))) func execAttachAndPortForwardThroughTheRPCs() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    let marker = "88\(UInt32.random(in: 100_000...999_999))"
    let (sandboxID, webID) = try await server.withClients { runtime, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = image
      _ = try await images.pullImage(pull)
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("streams")
      run.config.logDirectory = server.root + "/logs"
      let sandboxID = try await runtime.runPodSandbox(run).podSandboxID

      func create(_ config: Runtime_V1_ContainerConfig, start: Bool = true) async throws -> String {
        var c = Runtime_V1_CreateContainerRequest()
        c.podSandboxID = sandboxID
        c.sandboxConfig = run.config
        c.config = config
        let id = try await runtime.createContainer(c).containerID
        if start {
          var s = Runtime_V1_StartContainerRequest()
          s.containerID = id
          _ = try await runtime.startContainer(s)
        }
        return id
      }
      // web: an echo server on 8080 inside the pod's network namespace.
      let webID = try await create(
        containerConfig("web", image: image, "nc -ll -p 8080 -e /bin/cat & while true; do sleep 1; done", logPath: "web.log"))
      // term: an interactive shell on a tty, with stdin, for Attach.
      var termConfig = containerConfig("term", image: image, "exec sh", logPath: "term.log")
      termConfig.command = ["/bin/sh"]
      termConfig.tty = true
      termConfig.stdin = true
      let termID = try await create(termConfig)
      let idleID = try await create(containerConfig("idle", image: image, "sleep 1000"), start: false)

      // Exec over SPDY, no tty: stdin, stdout, stderr, the exit code, the container's environment.
      var exec = Runtime_V1_ExecRequest()
      exec.containerID = String(webID.prefix(12))
      exec.cmd = ["sh", "-c", "cat; echo \"$GREETING\"; echo err >&2; exit 3"]
      exec.stdin = true
      exec.stdout = true
      exec.stderr = true
      let url = try await runtime.exec(exec).url
      #expect(url.hasPrefix("http://127.0.0.1:"))
      let r = try await StreamingTestClient.withSPDY(url, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: Array("typed\n".utf8))
      }
      #expect(r.stdoutText == "typed\nhello world\n")
      #expect(r.stderrText == "err\n")
      #expect(KubeStatus.parse(r.status)?.exitCode == 3)

      // Exec over WebSocket with a tty and a resize.
      var ttyExec = exec
      ttyExec.cmd = ["sh", "-c", "read l; stty size; echo got:$l"]
      ttyExec.tty = true
      ttyExec.stderr = false
      let ttyURL = try await runtime.exec(ttyExec).url
      let t = try await StreamingTestClient.withWebSocket(ttyURL, protocols: ["v5.channel.k8s.io"]) { ws, _, messages in
        try await webSocketRemoteCommand(
          ws, messages, stdin: Array("x\n".utf8), closeStdin: false, resize: [TerminalSize(width: 77, height: 11)],
          stdinDelay: .milliseconds(300))
      }
      #expect(t.stdoutText.contains("11 77\r\n") && t.stdoutText.contains("got:x\r\n"), "\(t.stdoutText.debugDescription)")
      #expect(String(decoding: t.status, as: UTF8.self) == #"{"metadata":{},"status":"Success"}"#)

      // PortForward: SPDY and WebSocket into the pod's network namespace, byte for byte.
      var pf = Runtime_V1_PortForwardRequest()
      pf.podSandboxID = String(sandboxID.prefix(12))
      pf.port = [8080]
      let pfURL = try await runtime.portForward(pf).url
      let payload = randomBytes(1 << 20)
      let echoed = try await StreamingTestClient.withSPDY(pfURL, protocols: ["portforward.k8s.io"]) { spdy, _ in
        // The listener may still be starting: retry on the error stream.
        var result: (data: [UInt8], error: String) = ([], "")
        for attempt in 0..<50 {
          result = try await forwardOnce(spdy, port: 8080, requestID: attempt, payload: payload)
          if result.error.isEmpty { break }
          try await Task.sleep(for: .milliseconds(100))
        }
        return result
      }
      #expect(echoed.error == "")
      #expect(echoed.data == payload)
      let wsPF = try await runtime.portForward(pf).url
      try await StreamingTestClient.withTunnelledSPDY(wsPF) { spdy in
        let small = randomBytes(100_000)
        let (data, error) = try await forwardOnce(spdy, port: 8080, requestID: 1, payload: small)
        #expect(error == "")
        #expect(data == small)
      }

      // Attach to the tty shell over SPDY: what we type runs, its output comes back; `exit` ends it.
      var attach = Runtime_V1_AttachRequest()
      attach.containerID = termID
      attach.tty = true
      attach.stdin = true
      attach.stdout = true
      let attachURL = try await runtime.attach(attach).url
      let a = try await StreamingTestClient.withSPDY(attachURL, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(
          spdy, stdin: Array("echo sum=$((40+2))\nexit 6\n".utf8), tty: true, resize: [TerminalSize(width: 100, height: 30)],
          stdinDelay: .milliseconds(300), closeStdin: false)
      }
      #expect(a.stdoutText.contains("sum=42\r\n"), "\(a.stdoutText.debugDescription)")
      var status = Runtime_V1_ContainerStatusRequest()
      status.containerID = termID
      #expect(try await eventually { try await runtime.containerStatus(status).status.state == .containerExited })
      #expect(try await runtime.containerStatus(status).status.exitCode == 6)

      // The CRI contract's errors.
      var unknown = exec
      unknown.containerID = String(repeating: "0", count: 64)
      await Self.expectCode(.notFound, "Exec of an unknown container") { _ = try await runtime.exec(unknown) }
      var empty = exec
      empty.cmd = []
      await Self.expectCode(.invalidArgument, "Exec of an empty cmd") { _ = try await runtime.exec(empty) }
      var notRunning = exec
      notRunning.containerID = idleID
      await Self.expectCode(.failedPrecondition, "Exec in a created container") { _ = try await runtime.exec(notRunning) }
      var exited = attach
      exited.containerID = termID
      await Self.expectCode(.failedPrecondition, "Attach to an exited container") { _ = try await runtime.attach(exited) }
      var noStreams = attach
      noStreams.containerID = webID
      noStreams.stdin = false
      noStreams.stdout = false
      await Self.expectCode(.invalidArgument, "Attach with no stream") { _ = try await runtime.attach(noStreams) }
      var unknownPod = pf
      unknownPod.podSandboxID = String(repeating: "f", count: 64)
      await Self.expectCode(.notFound, "PortForward to an unknown sandbox") { _ = try await runtime.portForward(unknownPod) }
      var badPort = pf
      badPort.port = [70000]
      await Self.expectCode(.invalidArgument, "PortForward to port 70000") { _ = try await runtime.portForward(badPort) }

      // A long exec session, then liftoff-cri killed with SIGKILL: the session ends, the exec'd
      // command goes with it, the container keeps running.
      var long = exec
      long.cmd = ["sleep", marker]
      long.stdin = false
      let longURL = try await runtime.exec(long).url
      let session = Task {
        try await StreamingTestClient.withSPDY(longURL, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
          try await spdyRemoteCommand(spdy, stdin: nil)
        }
      }
      try await waitUntil { processExists(containing: "sleep\0\(marker)") }
      server.kill(SIGKILL)
      _ = try? await session.value
      return (sandboxID, webID)
    }
    try await waitUntilGone("sleep\0\(marker)")
    try server.start()
    try await server.withClients { runtime, _ in
      var status = Runtime_V1_ContainerStatusRequest()
      status.containerID = webID
      #expect(try await runtime.containerStatus(status).status.state == .containerRunning)
      var stop = Runtime_V1_StopPodSandboxRequest()
      stop.podSandboxID = sandboxID
      _ = try await runtime.stopPodSandbox(stop)
      var rm = Runtime_V1_RemovePodSandboxRequest()
      rm.podSandboxID = sandboxID
      _ = try await runtime.removePodSandbox(rm)
    }
  }
}
