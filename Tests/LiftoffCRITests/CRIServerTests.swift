// liftoff-cri as a process: Version, Status, RuntimeConfig, ImageFsInfo and an unimplemented RPC over
// the real socket with a real gRPC client; socket mode; one instance per socket; SIGKILL and SIGTERM.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffCore
import LiftoffOS
import Testing

@Suite(.serialized) struct CRIServerTests {
  @Test func versionStatusRuntimeConfigAndImageFsInfo() async throws {
    let server = try CRITestServer()
    defer { server.stop() }
    try await server.withClients { runtime, images in
      let version = try await runtime.version(.init())
      #expect(version.runtimeName == "liftoff")
      #expect(version.runtimeApiVersion == "v1")
      #expect(version.runtimeVersion == LiftoffVersion.version)

      var statusRequest = Runtime_V1_StatusRequest()
      statusRequest.verbose = true
      let status = try await runtime.status(statusRequest)
      let conditions = Dictionary(uniqueKeysWithValues: status.status.conditions.map { ($0.type, $0) })
      let runtimeReady = try #require(conditions["RuntimeReady"])
      let networkReady = try #require(conditions["NetworkReady"])
      // liftoff-stage1 and liftoff sit beside liftoff-cri in the build tree, the state dir is ours.
      #expect(runtimeReady.status, "\(runtimeReady.reason): \(runtimeReady.message)")
      if !networkReady.status {
        #expect(!networkReady.reason.isEmpty)
        #expect(!networkReady.message.isEmpty)
      }
      let config = try #require(status.info["config"])
      let decoded = try JSONSerialization.jsonObject(with: Data(config.utf8)) as? [String: Any]
      #expect(decoded?["socket"] as? String == server.socket)
      #expect(status.info["runtime"]?.contains(#""security":{"apparmorOnHost":false,"#) == true, "\(status.info)")
      #expect(status.runtimeHandlers.map(\.name) == ["", "default", "fly"])
      #expect(status.runtimeHandlers.allSatisfy { $0.features.recursiveReadOnlyMounts == Mounts.hasMountSetattr })
      #expect(status.runtimeHandlers.first { $0.name == "fly" }?.features.userNamespaces == false)
      #expect(status.features.supplementalGroupsPolicy)

      let runtimeConfig = try await runtime.runtimeConfig(.init())
      #expect(runtimeConfig.linux.cgroupDriver == .cgroupfs)

      // ImageFsInfo reports what is really on disk: put 1 MiB under images/ and see it counted.
      let blob = server.dir + "/images/probe"
      FileManager.default.createFile(atPath: blob, contents: Data(repeating: 7, count: 1 << 20))
      let fs = try await images.imageFsInfo(.init())
      let imageFS = try #require(fs.imageFilesystems.first)
      #expect(imageFS.fsID.mountpoint == server.dir + "/images")
      #expect(imageFS.usedBytes.value >= 1 << 20)
      #expect(imageFS.inodesUsed.value >= 2)
      #expect(imageFS.timestamp > 0)
      #expect(fs.containerFilesystems.first?.fsID.mountpoint == server.dir + "/pods")
    }
  }

  /// NetworkReady follows the disk without a restart: with the embedded default off, an empty conf dir
  /// is not ready; a valid conflist makes it ready; one naming a plugin that is not installed is not.
  @Test func networkReadyFollowsTheConfDir() async throws {
    let server = try CRITestServer(extraArguments: ["--cni-default-network=false"], network: false)
    defer { server.stop() }
    func networkReady() async throws -> Runtime_V1_RuntimeCondition {
      try await server.withClients { runtime, _ in
        let status = try await runtime.status(.init())
        return try #require(status.status.conditions.first { $0.type == "NetworkReady" })
      }
    }
    var c = try await networkReady()
    #expect(!c.status)
    #expect(c.reason == "NoNetworkConfig")
    #expect(c.message.contains(server.cniConfDir))

    try FileManager.default.createDirectory(atPath: server.cniConfDir, withIntermediateDirectories: true)
    let conflist = """
      {"cniVersion":"1.0.0","name":"testnet","plugins":[
        {"type":"bridge","bridge":"lfttest0","ipam":{"type":"host-local","subnet":"10.250.9.0/24"}},
        {"type":"loopback"}]}
      """
    try conflist.write(toFile: server.cniConfDir + "/10-test.conflist", atomically: true, encoding: .utf8)
    c = try await networkReady()
    #expect(c.status, "\(c.reason): \(c.message)")

    try conflist.replacingOccurrences(of: "\"loopback\"", with: "\"no-such-plugin\"")
      .write(toFile: server.cniConfDir + "/10-test.conflist", atomically: true, encoding: .utf8)
    c = try await networkReady()
    #expect(!c.status)
    #expect(c.reason == "NetworkPluginMissing")
    #expect(c.message.contains("no-such-plugin"))
  }

  /// With the embedded default network on (the default) and no configuration, the network is ready
  /// as long as the plugins it needs (bridge, host-local, portmap, loopback) are installed.
  @Test func embeddedDefaultNetworkIsReady() async throws {
    let server = try CRITestServer(network: false)
    defer { server.stop() }
    let c = try await server.withClients { runtime, _ in
      try #require(try await runtime.status(.init()).status.conditions.first { $0.type == "NetworkReady" })
    }
    #expect(c.status, "\(c.reason): \(c.message)")
    let missing = try CRITestServer(extraArguments: ["--cni-bin-dir", "/nonexistent"], network: false)
    defer { missing.stop() }
    let m = try await missing.withClients { runtime, _ in
      try #require(try await runtime.status(.init()).status.conditions.first { $0.type == "NetworkReady" })
    }
    #expect(!m.status)
    #expect(m.reason == "NetworkPluginMissing")
  }

  /// The pod CIDR kubelet sends is validated, recorded on disk, and survives a restart.
  @Test func updateRuntimeConfigKeepsThePodCIDR() async throws {
    let server = try CRITestServer()
    defer { server.stop() }
    try await server.withClients { runtime, _ in
      var request = Runtime_V1_UpdateRuntimeConfigRequest()
      request.runtimeConfig.networkConfig.podCidr = "10.244.7.0/24"
      _ = try await runtime.updateRuntimeConfig(request)
      request.runtimeConfig.networkConfig.podCidr = "10.244.7.0"
      do {
        _ = try await runtime.updateRuntimeConfig(request)
        Issue.record("a pod cidr without a prefix length was accepted")
      } catch let e as RPCError {
        #expect(e.code == .invalidArgument)
        #expect(e.message.contains("10.244.7.0"))
      }
    }
    let recorded = try String(contentsOfFile: server.dir + "/network/pod-cidr", encoding: .utf8)
    #expect(recorded == "10.244.7.0/24\n")
    server.kill(SIGKILL)
    try server.start()
    let info = try await server.withClients { runtime, _ in
      var r = Runtime_V1_StatusRequest()
      r.verbose = true
      return try await runtime.status(r).info
    }
    #expect(info["network"]?.contains("10.244.7.0/24") == true, "\(info)")
  }

  @Test func unimplementedRPCSaysSo() async throws {
    let server = try CRITestServer()
    defer { server.stop() }
    try await server.withClients { runtime, _ in
      do {
        _ = try await runtime.checkpointContainer(.init())
        Issue.record("CheckpointContainer succeeded but is not implemented")
      } catch let error as RPCError {
        #expect(error.code == .unimplemented)
        #expect(error.message.contains("CheckpointContainer"))
      }
    }
    #expect(server.process.isRunning)
  }

  @Test func socketIsRootOnlyAndSecondInstanceRefuses() throws {
    let server = try CRITestServer()
    defer { server.stop() }
    var st = stat()
    #expect(stat(server.socket, &st) == 0)
    #expect(st.st_mode & 0o777 == 0o660)
    #expect(st.st_mode & S_IFMT == S_IFSOCK)

    let secondLog = server.root + "/second.log"
    let second = try CRITestServer.launch(arguments: server.arguments, log: secondLog)
    second.waitUntilExit()
    #expect(second.terminationStatus != 0)
    let text = (try? String(contentsOfFile: secondLog, encoding: .utf8)) ?? ""
    #expect(text.contains("another liftoff-cri"), "\(text)")
    // The first one still serves.
    #expect(canConnect(server.socket))
  }

  @Test func sigkillLeavesNothingThatStopsTheNextStart() async throws {
    let server = try CRITestServer()
    defer { server.stop() }
    server.kill(SIGKILL)
    #expect(FileManager.default.fileExists(atPath: server.socket))  // stale socket left behind
    #expect(!canConnect(server.socket))
    try server.start()
    let version = try await server.withClients { runtime, _ in try await runtime.version(.init()) }
    #expect(version.runtimeName == "liftoff")
  }

  /// Type=notify, as systemd sees it: a datagram socket named by $NOTIFY_SOCKET gets READY=1 once the
  /// CRI socket accepts connections, and STOPPING=1 when SIGTERM begins the shutdown. (That the
  /// variable is not handed on to the pods is checked under a real systemd: SystemdServiceTests.)
  @Test func notifiesSystemdWhenReadyAndWhenStopping() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-notify-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let receiver = try NotifyReceiver(path: root + "/notify.sock")
    let server = try CRITestServer(network: false)
    defer { server.stop() }
    server.kill(SIGTERM)
    let process = try CRITestServer.launch(
      arguments: server.arguments, log: server.logPath, environment: ["NOTIFY_SOCKET": receiver.path])
    let ready = receiver.receive(timeoutSeconds: 20)
    #expect(ready?.split(separator: "\n").contains("READY=1") == true, "\(ready ?? "nothing")")
    #expect(canConnect(server.socket), "READY=1 before the socket accepts connections")
    Foundation.kill(process.processIdentifier, SIGTERM)
    let stopping = receiver.receive(timeoutSeconds: 20)
    #expect(stopping?.split(separator: "\n").contains("STOPPING=1") == true, "\(stopping ?? "nothing")")
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
  }

  /// Socket activation (deploy/liftoff-cri.socket), as systemd does it: a listening socket bound at the
  /// configured path as descriptor 3, LISTEN_FDS=1 and LISTEN_PID naming liftoff-cri. It serves on that
  /// socket, and leaves the file at exit (it is systemd's). One bound elsewhere, or open to others than
  /// root, is refused naming why. (Under a real systemd: SystemdServiceTests.)
  @Test func socketActivationServesThePassedSocket() async throws {
    let server = try CRITestServer(network: false)
    defer { server.stop() }
    server.kill(SIGTERM)
    #expect(!FileManager.default.fileExists(atPath: server.socket))

    let activated = try Self.launchActivated(bindAt: server.socket, mode: "660", arguments: server.arguments, log: server.logPath)
    // The socket listens before liftoff-cri runs (systemd's); a client's first call waits in its backlog.
    let socket = server.socket
    try await waitUntil { canConnect(socket) }
    let version = try await server.withClients { runtime, _ in try await runtime.version(.init()) }
    #expect(version.runtimeName == "liftoff")
    #expect(server.log().contains("socket-activated=true"), "\(server.log())")
    Foundation.kill(activated.processIdentifier, SIGTERM)
    activated.waitUntilExit()
    #expect(activated.terminationStatus == 0, "\(server.log())")
    #expect(FileManager.default.fileExists(atPath: server.socket), "liftoff-cri removed systemd's socket file")
    try FileManager.default.removeItem(atPath: server.socket)

    // Open to everyone: refused, naming the mode and what to set.
    let open = try Self.launchActivated(bindAt: server.socket, mode: "666", arguments: server.arguments, log: server.root + "/open.log")
    open.waitUntilExit()
    #expect(open.terminationStatus != 0)
    let openLog = (try? String(contentsOfFile: server.root + "/open.log", encoding: .utf8)) ?? ""
    #expect(openLog.contains("mode 666") && openLog.contains("SocketMode=0660"), "\(openLog)")
    try FileManager.default.removeItem(atPath: server.socket)

    // Bound somewhere else than the configured socket: refused, naming both paths.
    let elsewhere = server.root + "/run/other.sock"
    let wrong = try Self.launchActivated(bindAt: elsewhere, mode: "660", arguments: server.arguments, log: server.root + "/wrong.log")
    wrong.waitUntilExit()
    #expect(wrong.terminationStatus != 0)
    let wrongLog = (try? String(contentsOfFile: server.root + "/wrong.log", encoding: .utf8)) ?? ""
    #expect(wrongLog.contains("bound at \(elsewhere)") && wrongLog.contains(server.socket), "\(wrongLog)")
  }

  /// liftoff-cri started as systemd starts a socket-activated service: a small python3 launcher binds
  /// and listens on `bindAt` with `mode`, moves the socket to descriptor 3, sets LISTEN_FDS=1 and
  /// LISTEN_PID to its own pid and execs liftoff-cri (so the pid is liftoff-cri's).
  static func launchActivated(bindAt path: String, mode: String, arguments: [String], log: String) throws -> Process {
    let script = """
      import os, socket, sys
      path, mode = sys.argv[1], int(sys.argv[2], 8)
      s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
      s.bind(path); os.chmod(path, mode); s.listen(64)
      if s.fileno() != 3: os.dup2(s.fileno(), 3)
      os.set_inheritable(3, True)
      os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()), LISTEN_FDNAMES="liftoff-cri.socket")
      os.execv(sys.argv[3], sys.argv[3:])
      """
    return try CRITestServer.launch(
      arguments: arguments, log: log, launcher: ["/usr/bin/python3", "-c", script, path, mode])
  }

  @Test func sigtermShutsDownCleanly() throws {
    let server = try CRITestServer()
    defer { server.stop() }
    server.kill(SIGTERM)
    #expect(server.process.terminationReason == .exit)
    #expect(server.process.terminationStatus == 0)
    #expect(!FileManager.default.fileExists(atPath: server.socket))
  }

  @Test func badFlagsAndConfigAreClearErrors() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-cri-cfg-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    let config = root + "/cri.toml"
    try "socket = \"\(root)/s.sock\"\nbogus = 1\n".write(toFile: config, atomically: true, encoding: .utf8)
    let p = try CRITestServer.launch(arguments: ["--config", config], log: root + "/log")
    p.waitUntilExit()
    #expect(p.terminationStatus != 0)
    let text = (try? String(contentsOfFile: root + "/log", encoding: .utf8)) ?? ""
    #expect(text.contains("unknown setting \"bogus\""), "\(text)")

    let q = try CRITestServer.launch(arguments: ["--config", config + ".missing"], log: root + "/log2")
    q.waitUntilExit()
    #expect(q.terminationStatus != 0)
    #expect(((try? String(contentsOfFile: root + "/log2", encoding: .utf8)) ?? "").contains("does not exist"))

    // The systemd cgroup driver where systemd is not PID 1 (as on this test machine): refused at start.
    if !Cgroups.systemdIsRunning {
      let r = try CRITestServer.launch(arguments: ["--socket", root + "/sd.sock", "--cgroup-driver", "systemd"], log: root + "/log3")
      r.waitUntilExit()
      #expect(r.terminationStatus != 0)
      let log = (try? String(contentsOfFile: root + "/log3", encoding: .utf8)) ?? ""
      #expect(log.contains("cgroup-driver systemd: systemd is not PID 1"), "\(log)")
    }
  }
}

/// The service manager's end of sd_notify: a datagram socket bound at `path`.
final class NotifyReceiver {
  let path: String
  let fd: Int32

  init(path: String) throws {
    self.path = path
    fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SystemCallError("socket", errno: errno) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { raw in raw.copyBytes(from: path.utf8.prefix(raw.count - 1)) }
    let rc = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard rc == 0 else { throw SystemCallError("bind", errno: errno, path: path) }
  }

  deinit { close(fd) }

  /// One datagram, or nil when none came within the timeout.
  func receive(timeoutSeconds: Int32) -> String? {
    var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&p, 1, timeoutSeconds * 1000) == 1 else { return nil }
    var buffer = [UInt8](repeating: 0, count: 4096)
    let n = recv(fd, &buffer, buffer.count, 0)
    return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self) : nil
  }
}
