// The container streaming backend for real (root): a mutable pod made with the built `liftoff`
// (`app sandbox` + `app add` of an app named like a CRI container), the streaming server with
// ContainerStreamingBackend, and the test client speaking SPDY and WebSocket. Exec runs inside the
// container through `liftoff enter`; port-forward reaches listeners (busybox `nc -ll`) inside the
// pod's own network namespace, which the host cannot reach.
import Foundation
@testable import LiftoffCRI
@testable import LiftoffStreaming
import LiftoffCore
import LiftoffTestSupport
import Logging
import Testing

/// A private state dir, a busybox rootfs, and one running mutable pod whose app is a "container".
final class ContainerPod: @unchecked Sendable {
  let base: String
  let dataDir: String
  let rootfs: String
  let podID: String
  let containerID: String
  /// Two listeners inside the pod: an echo (cat) and an upper-caser (tr a-z A-Z).
  let echoPort: UInt16 = 8080
  let upperPort: UInt16 = 8081

  static var liftoff: String { liftoffBinDir() + "/liftoff" }

  init(tag: String, net: String = "none", extraPodFlags: [String] = [], extraAppFlags: [String] = []) throws {
    base = "/tmp/liftoff-cstream-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
    dataDir = base + "/data"
    rootfs = base + "/rootfs"
    let fm = FileManager.default
    for d in ["bin", "etc", "tmp", "home/alice"] { try fm.createDirectory(atPath: "\(rootfs)/\(d)", withIntermediateDirectories: true) }
    try fm.copyItem(atPath: "/bin/busybox", toPath: "\(rootfs)/bin/busybox")
    for applet in ["sh", "cat", "id", "grep", "sleep", "nc", "tr", "stty", "tty", "echo", "head", "wc", "ls", "readlink", "true", "seq", "stat"] {
      try fm.createSymbolicLink(atPath: "\(rootfs)/bin/\(applet)", withDestinationPath: "busybox")
    }
    try "#!/bin/sh\nexec tr a-z A-Z\n".write(toFile: "\(rootfs)/bin/upper", atomically: true, encoding: .utf8)
    chmod("\(rootfs)/bin/upper", 0o755)
    try "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:alice:/home/alice:/bin/sh\n"
      .write(toFile: "\(rootfs)/etc/passwd", atomically: true, encoding: .utf8)
    try "root:x:0:\nalice:x:1000:\nstaff:x:50:alice\n".write(toFile: "\(rootfs)/etc/group", atomically: true, encoding: .utf8)
    containerID = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
    let sandbox = try Self.run(["--dir", dataDir, "app", "sandbox", "--net", net] + extraPodFlags)
    podID = sandbox.trimmingCharacters(in: .whitespacesAndNewlines)
    let script = "nc -ll -p \(echoPort) -e /bin/cat & nc -ll -p \(upperPort) -e /bin/upper & exec sleep 100000"
    do {
      _ = try Self.run(
        ["--dir", dataDir, "app", "add", podID, rootfs, "--name", containerID] + extraAppFlags
          + ["--exec", "/bin/sh", "--", "-c", script])
      _ = try Self.run(["--dir", dataDir, "app", "start", "--app", containerID, podID])
    } catch {
      tearDown()  // the caller's defer never runs for a fixture that failed to initialise
      throw error
    }
  }

  /// Runs `liftoff ARGS` to completion; its stdout, or an error with its stderr.
  @discardableResult
  static func run(_ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: liftoff)
    p.arguments = args
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
      throw LiftoffError.internal("liftoff \(args) failed (\(p.terminationStatus)): \(String(decoding: e, as: UTF8.self))")
    }
    return String(decoding: o, as: UTF8.self)
  }

  func tearDown() {
    _ = try? Self.run(["--dir", dataDir, "stop", "--force", podID])
    _ = try? Self.run(["--dir", dataDir, "rm", podID])
    _ = try? Self.run(["--dir", dataDir, "gc", "--grace-period", "0"])
    try? FileManager.default.removeItem(atPath: base)
  }

  /// Waits until both listeners inside the pod accept connections (checked from inside).
  func waitForListeners() throws {
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
      let r = try? Self.run([
        "--dir", dataDir, "enter", "--app", containerID, podID, "/bin/sh", "-c",
        "echo | nc 127.0.0.1 \(echoPort) && echo | nc 127.0.0.1 \(upperPort) && echo ok",
      ])
      if r?.contains("ok") == true { return }
      usleep(50_000)
    }
    throw LiftoffError.internal("listeners in pod \(podID) did not come up")
  }

  func withServer<T>(_ body: (StreamingServer) async throws -> T) async throws -> T {
    var logger = Logger(label: "container-streaming-test")
    logger.logLevel = .warning
    let backend = ContainerStreamingBackend(enterPath: liftoffBinDir() + "/liftoff-enter", dataDir: dataDir)
    let server = StreamingServer(address: "127.0.0.1", port: 0, backend: backend, logger: logger)
    try await server.start()
    do {
      let r = try await body(server)
      await server.shutdown()
      return r
    } catch {
      await server.shutdown()
      throw error
    }
  }
}

@Suite(.serialized, .needsRoot)
struct ContainerStreamingTests {
  @Test(.timeLimit(.minutes(2))) func execInsideTheContainerOverSPDYAndWebSocket() async throws {
    let pod = try ContainerPod(tag: "exec", extraAppFlags: ["--user", "alice", "--set-env", "GREETING=hi"])
    defer { pod.tearDown() }
    try await pod.withServer { server in
      let cid = pod.containerID
      // SPDY, no tty: stdin through cat, stderr, exit code, and the container's user, env and caps.
      let url = try server.register(.exec(.init(
        containerID: cid, cmd: ["sh", "-c", "cat; id -u; echo $GREETING; grep -E '^(CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; readlink /proc/1/exe; echo fds=$(ls /proc/self/fd | wc -l); echo oops >&2; exit 3"],
        tty: false, stdin: true, stdout: true, stderr: true)))
      let r = try await StreamingTestClient.withSPDY(url, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: Array("from stdin\n".utf8))
      }
      #expect(r.stdoutText == "from stdin\n1000\nhi\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n/bin/busybox\nfds=4\n", "\(r.stdoutText)")
      #expect(r.stderrText == "oops\n")
      #expect(KubeStatus.parse(r.status)?.exitCode == 3)

      // WebSocket v5 with a tty: the terminal is the command's controlling terminal; resize; exit code.
      let ttyURL = try server.register(.exec(.init(
        containerID: cid, cmd: ["sh", "-c", "read line; stty size; echo got:$line; test -t 0 && echo tty-ok; tty; exit 7"],
        tty: true, stdin: true, stdout: true, stderr: false)))
      let t = try await StreamingTestClient.withWebSocket(ttyURL, protocols: ["v5.channel.k8s.io"]) { ws, _, messages in
        try await webSocketRemoteCommand(
          ws, messages, stdin: Array("xyz\n".utf8), closeStdin: false, resize: [TerminalSize(width: 101, height: 33)],
          stdinDelay: .milliseconds(300))
      }
      #expect(t.stdoutText.contains("33 101\r\n"), "\(t.stdoutText.debugDescription)")
      #expect(t.stdoutText.contains("got:xyz\r\n"))
      #expect(t.stdoutText.contains("tty-ok\r\n"))
      // The terminal is one of the container's own: ttyname() resolves inside.
      #expect(t.stdoutText.contains("/dev/pts/0\r\n"), "\(t.stdoutText.debugDescription)")

      // A resize while the command runs reaches it (SIGWINCH relayed by liftoff enter).
      let resizeURL = try server.register(.exec(.init(
        containerID: cid, cmd: ["sh", "-c", "stty size; echo ready; read l; stty size"],
        tty: true, stdin: true, stdout: true, stderr: false)))
      let sizes = try await StreamingTestClient.withSPDY(resizeURL, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        func open(_ type: String) async throws -> SPDYStream {
          try await spdy.openStream(headers: SPDYHeaders([("streamType", type)]))
        }
        let error = try await open("error")
        let input = try await open("stdin")
        let out = try await open("stdout")
        let resize = try await open("resize")
        try await resize.write(Array(#"{"Width":60,"Height":20}"#.utf8))
        var text = ""
        for await chunk in out.inbound {
          text += String(decoding: chunk, as: UTF8.self)
          await out.consumed(chunk.count)
          if text.contains("ready") { break }
        }
        try await resize.write(Array(#"{"Width":132,"Height":43}"#.utf8))
        try await Task.sleep(for: .milliseconds(300))
        try await input.write(Array("go\n".utf8))
        text += String(decoding: await readAll(out), as: UTF8.self)
        _ = await readAll(error)
        return text
      }
      #expect(sizes.contains("20 60\r\n") && sizes.contains("43 132\r\n"), "\(sizes.debugDescription)")
      #expect(KubeStatus.parse(t.status)?.exitCode == 7)

      // SPDY with a tty and a large stdin through WebSocket without: byte for byte.
      let payload = randomBytes(1 << 20)
      let bigURL = try server.register(.exec(.init(containerID: cid, cmd: ["cat"], tty: false, stdin: true, stdout: true, stderr: true)))
      let big = try await StreamingTestClient.withWebSocket(bigURL, protocols: ["v5.channel.k8s.io"]) { ws, _, messages in
        try await webSocketRemoteCommand(ws, messages, stdin: payload, closeStdin: true)
      }
      #expect(big.stdout == payload)
      #expect(String(decoding: big.status, as: UTF8.self) == #"{"metadata":{},"status":"Success"}"#)

      // A command that does not exist: exit code 127 and a message on stderr.
      let missing = try server.register(.exec(.init(containerID: cid, cmd: ["no-such-cmd"], tty: false, stdin: false, stdout: true, stderr: true)))
      let m = try await StreamingTestClient.withSPDY(missing, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: nil)
      }
      #expect(KubeStatus.parse(m.status)?.exitCode == 127)
      #expect(m.stderrText.contains("no-such-cmd"))

      // An unknown container: a failure status naming it.
      let unknown = String(repeating: "ab", count: 32)
      let u = try server.register(.exec(.init(containerID: unknown, cmd: ["true"], tty: false, stdin: false, stdout: true, stderr: false)))
      let ur = try await StreamingTestClient.withSPDY(u, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: nil, stderr: false)
      }
      #expect(KubeStatus.parse(ur.status)?.message.contains(unknown) == true)
    }
  }

  @Test(.timeLimit(.minutes(2))) func closingTheSessionKillsTheExecedCommand() async throws {
    let pod = try ContainerPod(tag: "execkill")
    defer { pod.tearDown() }
    let marker = "77\(UInt32.random(in: 100_000...999_999))"
    try await pod.withServer { server in
      let url = try server.register(.exec(.init(
        containerID: pod.containerID, cmd: ["sleep", marker], tty: false, stdin: false, stdout: true, stderr: true)))
      let session = Task {
        try await StreamingTestClient.withSPDY(url, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
          try await spdyRemoteCommand(spdy, stdin: nil)
        }
      }
      try await waitUntil { processExists(containing: "sleep\0\(marker)") }
      await server.shutdown()
      _ = try? await session.value
      try await waitUntilGone("sleep\0\(marker)")
    }
    // The container itself is untouched.
    let status = try ContainerPod.run(["--dir", pod.dataDir, "app", "status", "--format", "json", "--app", pod.containerID, pod.podID])
    #expect(status.contains("\"running\""), "\(status)")
  }

  /// Adds and starts one more "container" in the pod: 64 hex characters, with the given flags.
  static func addContainer(_ pod: ContainerPod, flags: [String], script: String) throws -> String {
    let id = (0..<4).map { _ in String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }.joined()
    try ContainerPod.run(
      ["--dir", pod.dataDir, "app", "add", pod.podID, pod.rootfs, "--name", id] + flags
        + ["--exec", "/bin/sh", "--", "-c", script])
    try ContainerPod.run(["--dir", pod.dataDir, "app", "start", "--app", id, pod.podID])
    return id
  }

  @Test(.timeLimit(.minutes(2))) func attachSeveralClientsOverSPDYAndWebSocket() async throws {
    let pod = try ContainerPod(tag: "attach")
    defer { pod.tearDown() }
    let id = try Self.addContainer(
      pod, flags: ["--stdin", "--log-path", pod.base + "/logs/a.log"],
      script: "while read l; do echo out:$l; echo err:$l >&2; done")
    let baseline = settledStage1Sockets(pod)
    #expect(baseline > 0)
    try await pod.withServer { server in
      let watcherURL = try server.register(.attach(.init(containerID: id, tty: false, stdin: false, stdout: true, stderr: true)))
      let writerURL = try server.register(.attach(.init(containerID: id, tty: false, stdin: true, stdout: true, stderr: true)))
      // A watcher over WebSocket sees what a writer over SPDY types; both end when the container does.
      async let watched = StreamingTestClient.withWebSocket(watcherURL, protocols: ["v5.channel.k8s.io"]) { ws, _, messages in
        try await webSocketRemoteCommand(ws, messages, stdin: nil, closeStdin: false)
      }
      try await waitUntil { stage1Sockets(pod) == baseline + 1 }
      async let typed = StreamingTestClient.withSPDY(writerURL, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: Array("one\ntwo\n".utf8), closeStdin: false) {
          try await waitUntil { stage1Sockets(pod) == baseline + 2 }
        }
      }
      try await waitUntil { stage1Sockets(pod) == baseline + 2 }
      try await Task.sleep(for: .milliseconds(500))
      try ContainerPod.run(["--dir", pod.dataDir, "app", "stop", "--app", id, "--timeout", "1", pod.podID])
      let (w, t) = try await (watched, typed)
      #expect(w.stdoutText == "out:one\nout:two\n")
      #expect(w.stderrText == "err:one\nerr:two\n")
      #expect(t.stdoutText == "out:one\nout:two\n")
      #expect(String(decoding: t.status, as: UTF8.self) == #"{"metadata":{},"status":"Success"}"#)
    }
  }

  @Test(.timeLimit(.minutes(2))) func attachWithStdinOnceAndToATTYContainer() async throws {
    let pod = try ContainerPod(tag: "attachtty")
    defer { pod.tearDown() }
    // Output well after stdin closed still arrives: the session lasts until the app ends.
    let once = try Self.addContainer(pod, flags: ["--stdin-once"], script: "cat; sleep 0.5; echo cat-ended; exit 5")
    let term = try Self.addContainer(pod, flags: ["--tty", "--stdin"], script: "while read l; do stty size; echo got:$l; done")
    try await pod.withServer { server in
      // stdin_once: the v5 close signal for stdin closes the container's stdin; cat ends, so does it.
      let url = try server.register(.attach(.init(containerID: once, tty: false, stdin: true, stdout: true, stderr: true)))
      let r = try await StreamingTestClient.withWebSocket(url, protocols: ["v5.channel.k8s.io"]) { ws, _, messages in
        try await webSocketRemoteCommand(ws, messages, stdin: Array("abc\nmore\n".utf8), closeStdin: true, stdinDelay: .milliseconds(300))
      }
      #expect(r.stdoutText == "abc\nmore\ncat-ended\n", "\(r.stdoutText.debugDescription)")
      // A tty container over SPDY: input, resize; the client's stdin ending ends its session (as in
      // containerd: output the app writes after that is not waited for) and leaves the container running.
      let ttyURL = try server.register(.attach(.init(containerID: term, tty: true, stdin: true, stdout: true, stderr: false)))
      let t = try await StreamingTestClient.withSPDY(ttyURL, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(
          spdy, stdin: Array("xyz\n".utf8), tty: true, resize: [TerminalSize(width: 88, height: 22)],
          stdinDelay: .milliseconds(300), closeStdin: true, afterStdin: { try await Task.sleep(for: .milliseconds(500)) })
      }
      #expect(t.stdoutText.contains("22 88\r\n") && t.stdoutText.contains("got:xyz\r\n"), "\(t.stdoutText.debugDescription)")
      let status = try ContainerPod.run(["--dir", pod.dataDir, "app", "status", "--format", "json", "--app", term, pod.podID])
      #expect(status.contains("\"running\""), "\(status)")
      // A container whose output does not pass through stage1 (no log, tty or stdin): a failure naming it.
      let wrong = try server.register(.attach(.init(containerID: pod.containerID, tty: true, stdin: false, stdout: true, stderr: false)))
      let w = try await StreamingTestClient.withSPDY(wrong, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: nil, stderr: false, tty: true)
      }
      #expect(KubeStatus.parse(w.status)?.message.contains(pod.containerID) == true, "\(String(decoding: w.status, as: UTF8.self))")
    }
  }


  @Test(.timeLimit(.minutes(2))) func attachWithoutTTYToATTYContainerShowsItsOutput() async throws {
    let pod = try ContainerPod(tag: "attachnotty")
    defer { pod.tearDown() }
    let id = try Self.addContainer(pod, flags: ["--tty"], script: "for i in $(seq 1 10); do echo tick$i; sleep 0.3; done; exit 2")
    try await pod.withServer { server in
      // kubectl attach without -t: no tty in the session, the terminal's output on stdout.
      let url = try server.register(.attach(.init(containerID: id, tty: false, stdin: false, stdout: true, stderr: true)))
      let r = try await StreamingTestClient.withSPDY(url, protocols: ["v4.channel.k8s.io"]) { spdy, _ in
        try await spdyRemoteCommand(spdy, stdin: nil)
      }
      #expect(r.stdoutText.hasSuffix("tick10\r\n"), "\(r.stdoutText.debugDescription)")
      #expect(r.stderr.isEmpty)
    }
  }

  @Test(.timeLimit(.minutes(2))) func portForwardIntoThePodNetworkNamespace() async throws {
    let pod = try ContainerPod(tag: "pf")
    defer { pod.tearDown() }
    try pod.waitForListeners()
    let upper: @Sendable (UInt8) -> UInt8 = { $0 >= 0x61 && $0 <= 0x7a ? $0 - 32 : $0 }
    try await pod.withServer { server in
      // SPDY: two ports, parallel connections, large transfers checked byte for byte.
      let url = try server.register(.portForward(.init(podSandboxID: pod.podID, ports: [pod.echoPort, pod.upperPort])))
      try await StreamingTestClient.withSPDY(url, protocols: ["portforward.k8s.io"]) { spdy, _ in
        try await withThrowingTaskGroup(of: Void.self) { group in
          for i in 0..<4 {
            group.addTask {
              let port = i % 2 == 0 ? pod.echoPort : pod.upperPort
              let payload = randomBytes(i < 2 ? 2 << 20 : 100_000)
              let (data, error) = try await forwardOnce(spdy, port: port, requestID: i, payload: payload)
              #expect(error == "")
              #expect(data.count == payload.count)
              #expect(data == (i % 2 == 0 ? payload : payload.map(upper)), "connection \(i) differs")
            }
          }
          try await group.waitForAll()
        }
        // Nobody listens on this port inside the pod: an error on the error stream, the session goes on.
        let (data, error) = try await forwardOnce(spdy, port: 9, requestID: 50, payload: [1, 2, 3])
        #expect(data.isEmpty)
        #expect(error.contains("error forwarding port 9"), "\(error)")
      }
      // WebSocket (SPDY tunnelled), port chosen per stream.
      let wsURL = try server.register(.portForward(.init(podSandboxID: pod.podID, ports: [])))
      try await StreamingTestClient.withTunnelledSPDY(wsURL) { spdy in
        try await withThrowingTaskGroup(of: Void.self) { group in
          for i in 0..<4 {
            group.addTask {
              let port = i % 2 == 0 ? pod.echoPort : pod.upperPort
              let payload = randomBytes(i < 2 ? 1 << 20 : 300_000)
              let (data, error) = try await forwardOnce(spdy, port: port, requestID: i, payload: payload)
              #expect(error == "")
              #expect(data == (i % 2 == 0 ? payload : payload.map(upper)), "connection \(i) differs")
            }
          }
          try await group.waitForAll()
        }
      }
    }
  }

  @Test(.timeLimit(.minutes(2))) func portForwardToAHostNetworkPod() async throws {
    let port = UInt16.random(in: 30000...39999)
    let pod = try ContainerPod(tag: "pfhost", net: "host")
    defer { pod.tearDown() }
    // A listener of the pod on the host's network.
    _ = try ContainerPod.run([
      "--dir", pod.dataDir, "app", "add", pod.podID, pod.rootfs, "--name", "listener", "--exec", "/bin/nc", "--", "-ll", "-p", "\(port)", "-e", "/bin/cat",
    ])
    _ = try ContainerPod.run(["--dir", pod.dataDir, "app", "start", "--app", "listener", pod.podID])
    try await pod.withServer { server in
      let url = try server.register(.portForward(.init(podSandboxID: pod.podID, ports: [port])))
      try await StreamingTestClient.withSPDY(url, protocols: ["portforward.k8s.io"]) { spdy, _ in
        var result: (data: [UInt8], error: String) = ([], "")
        for attempt in 0..<50 {
          result = try await forwardOnce(spdy, port: port, requestID: attempt, payload: Array("host net".utf8))
          if result.error.isEmpty { break }
          try await Task.sleep(for: .milliseconds(100))
        }
        #expect(result.error == "")
        #expect(result.data == Array("host net".utf8))
      }
    }
  }
}

/// Sockets stage1 of the pod holds open (its control and attach listeners, plus one per attached
/// client): attaching shows as this count going up.
/// stage1's socket count once it has held still for 150 ms: right after `app start` returns, the
/// control connection that carried it may not be closed yet, and a baseline that counts it is never
/// reached again.
func settledStage1Sockets(_ pod: ContainerPod) -> Int {
  var last = stage1Sockets(pod)
  var same = 0
  for _ in 0..<100 where same < 3 {
    usleep(50_000)
    let now = stage1Sockets(pod)
    same = now == last ? same + 1 : 0
    last = now
  }
  return last
}

func stage1Sockets(_ pod: ContainerPod) -> Int {
  guard let pidText = try? String(contentsOfFile: "\(pod.dataDir)/pods/run/\(pod.podID)/stage1/pid", encoding: .utf8),
    let pid = Int(pidText.trimmingCharacters(in: .whitespacesAndNewlines)),
    let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
  else { return -1 }
  return fds.filter { ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) ?? "").hasPrefix("socket:") }.count
}
