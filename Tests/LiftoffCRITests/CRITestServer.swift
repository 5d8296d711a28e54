// A real liftoff-cri process on a temporary socket and state directory, and a real grpc-swift client
// over that socket — what kubelet and crictl do. Shared by every CRI integration test.
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import LiftoffCRI
import LiftoffCore
import LiftoffTestSupport
import Testing

/// The directory holding the built `liftoff`, `liftoff-cri` and `liftoff-stage1`: LIFTOFF_BIN_DIR
/// (hack/test.sh sets it) or the directory of the test bundle, which `swift build` shares.
func liftoffBinDir() -> String { TestEnvironment.builtBinaries(containing: "liftoff-cri") }

final class CRITestServer: @unchecked Sendable {
  let root: String
  let socket: String
  let dir: String
  private(set) var process: Process
  let logPath: String
  var extraArguments: [String]

  /// The test's own CNI network (bridge and subnet unique to this server), when `network` is on.
  let bridge: String
  let networkName: String
  let subnet: String

  /// Starts liftoff-cri and waits until its socket accepts connections. With `network`, the conf dir
  /// holds a bridge network of the test's own (never `liftoff0`, never /etc/cni/net.d).
  init(extraArguments: [String] = [], network: Bool = true) throws {
    root = FileManager.default.temporaryDirectory
      .appendingPathComponent("liftoff-cri-test-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    socket = root + "/run/cri.sock"
    // An explicit `--dir` in extraArguments (the last one wins, as for the server) is the one stop() cleans.
    dir = extraArguments.indices.last { extraArguments[$0] == "--dir" && $0 + 1 < extraArguments.count }
      .map { extraArguments[$0 + 1] } ?? root + "/state"
    logPath = root + "/cri.log"
    self.extraArguments = extraArguments
    let tag = String(format: "%06x", UInt32.random(in: 0...0xffffff))
    bridge = "lc" + tag
    networkName = "lc-test-" + tag
    subnet = "10.\(180 + Int.random(in: 0...15)).\(Int.random(in: 0...255)).0/24"
    if network {
      try FileManager.default.createDirectory(atPath: root + "/net.d", withIntermediateDirectories: true)
      let conflist = """
        {"cniVersion":"1.0.0","name":"\(networkName)","plugins":[
          {"type":"bridge","bridge":"\(bridge)","isGateway":true,"ipMasq":false,
           "ipam":{"type":"host-local","ranges":[[{"subnet":"\(subnet)"}]],"dataDir":"\(root)/ipam"}},
          {"type":"portmap","capabilities":{"portMappings":true},"snat":true},
          {"type":"loopback"}]}
        """
      try conflist.write(toFile: root + "/net.d/10-test.conflist", atomically: true, encoding: .utf8)
    }
    process = Process()
    try start()
  }

  /// A CNI conf dir of the test's own: the host's /etc/cni/net.d never matters.
  var cniConfDir: String { root + "/net.d" }

  var arguments: [String] {
    ["--socket", socket, "--dir", dir, "--log-level", "debug", "--cni-conf-dir", cniConfDir] + extraArguments
  }

  /// (Re)starts the server process.
  func start() throws {
    process = try Self.launch(arguments: arguments, log: logPath)
    try waitForSocket()
  }

  /// Starts liftoff-cri with `arguments`, its output appended to `log`; with `launcher`, that command
  /// (its first element the executable) is run with liftoff-cri's path and arguments after it.
  static func launch(
    arguments: [String], log: String, environment: [String: String] = [:], launcher: [String] = []
  ) throws -> Process {
    let p = Process()
    let command = launcher + [liftoffBinDir() + "/liftoff-cri"] + arguments
    p.executableURL = URL(fileURLWithPath: command[0])
    p.arguments = Array(command.dropFirst())
    if !environment.isEmpty { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    if !FileManager.default.fileExists(atPath: log) {
      FileManager.default.createFile(atPath: log, contents: nil)
    }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    handle.seekToEndOfFile()
    p.standardError = handle
    p.standardOutput = handle
    try p.run()
    return p
  }

  func waitForSocket(timeout: Double = 20) throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if canConnect(socket) { return }
      if !process.isRunning {
        throw LiftoffError.internal("liftoff-cri exited with \(process.terminationStatus): \(log())")
      }
      usleep(20_000)
    }
    throw LiftoffError.internal("liftoff-cri did not listen on \(socket) within \(timeout)s: \(log())")
  }

  func log() -> String {
    (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
  }

  func kill(_ signal: Int32) {
    Foundation.kill(process.processIdentifier, signal)
    process.waitUntilExit()
  }

  func stop() {
    if process.isRunning { kill(SIGKILL) }
    // Whatever a failed test left: pods (stage1 is not our child), then the test bridge.
    let gc = Process()
    gc.executableURL = URL(fileURLWithPath: liftoffBinDir() + "/liftoff")
    gc.arguments = ["--dir", dir, "--cni-conf-dir", cniConfDir, "gc", "--grace-period", "0"]
    if let ids = try? FileManager.default.contentsOfDirectory(atPath: dir + "/pods/run"), !ids.isEmpty {
      let stop = Process()
      stop.executableURL = gc.executableURL
      stop.arguments = ["--dir", dir, "stop", "--force"] + ids
      try? stop.run()
      stop.waitUntilExit()
    }
    try? gc.run()
    gc.waitUntilExit()
    let link = Process()
    link.executableURL = URL(fileURLWithPath: "/sbin/ip")
    link.arguments = ["link", "del", bridge]
    link.standardError = FileHandle.nullDevice
    try? link.run()
    link.waitUntilExit()
    try? FileManager.default.removeItem(atPath: root)
  }

  /// Runs `body` with RuntimeService and ImageService clients over the socket.
  func withClients<R: Sendable>(
    _ body: @Sendable (
      Runtime_V1_RuntimeService.Client<HTTP2ClientTransport.Posix>,
      Runtime_V1_ImageService.Client<HTTP2ClientTransport.Posix>
    ) async throws -> R
  ) async throws -> R {
    try await withGRPCClient(
      transport: .http2NIOPosix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
    ) { client in
      try await body(
        Runtime_V1_RuntimeService.Client(wrapping: client), Runtime_V1_ImageService.Client(wrapping: client))
    }
  }
}

/// Whether a Unix stream socket at `path` accepts a connection.
func canConnect(_ path: String) -> Bool {
  let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
  guard fd >= 0 else { return false }
  defer { close(fd) }
  var address = sockaddr_un()
  address.sun_family = sa_family_t(AF_UNIX)
  withUnsafeMutableBytes(of: &address.sun_path) { raw in
    raw.copyBytes(from: path.utf8.prefix(raw.count - 1))
  }
  return withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0
    }
  }
}

typealias RuntimeClient = Runtime_V1_RuntimeService.Client<HTTP2ClientTransport.Posix>
typealias ImageClient = Runtime_V1_ImageService.Client<HTTP2ClientTransport.Posix>

/// Pulls `image` and runs a sandbox made from `sandboxConfig(name)`: its ID.
func pullAndRunSandbox(_ runtime: RuntimeClient, _ images: ImageClient, image: String, name: String) async throws -> String {
  var pull = Runtime_V1_PullImageRequest()
  pull.image.image = image
  _ = try await images.pullImage(pull)
  var run = Runtime_V1_RunPodSandboxRequest()
  run.config = sandboxConfig(name)
  return try await runtime.runPodSandbox(run).podSandboxID
}

/// Creates a container from `config` in the sandbox and starts it: its ID.
func createAndStart(_ runtime: RuntimeClient, sandboxID: String, _ config: Runtime_V1_ContainerConfig) async throws -> String {
  var create = Runtime_V1_CreateContainerRequest()
  create.podSandboxID = sandboxID
  create.config = config
  let id = try await runtime.createContainer(create).containerID
  var start = Runtime_V1_StartContainerRequest()
  start.containerID = id
  _ = try await runtime.startContainer(start)
  return id
}

/// ExecSync of `/bin/sh -c script` (10 s timeout): its stdout.
func execOutput(_ runtime: RuntimeClient, _ id: String, _ script: String) async throws -> String {
  var exec = Runtime_V1_ExecSyncRequest()
  exec.containerID = id
  exec.cmd = ["/bin/sh", "-c", script]
  exec.timeout = 10
  return String(decoding: try await runtime.execSync(exec).stdout, as: UTF8.self)
}

/// Expects `body` to fail with an RPCError of `code` whose message contains `fragment` (any message
/// when it is empty).
func expectRPCError(
  _ code: RPCError.Code, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
  do {
    try await body()
    Issue.record("expected \(code) containing \"\(fragment)\", got success", sourceLocation: sourceLocation)
  } catch let e as RPCError {
    #expect(e.code == code && (fragment.isEmpty || e.message.contains(fragment)), "\(e)", sourceLocation: sourceLocation)
  } catch {
    Issue.record("expected an RPCError, got \(error)", sourceLocation: sourceLocation)
  }
}
