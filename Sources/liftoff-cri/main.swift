// liftoff-cri — the CRI node service: wiring only (flags, config file, logging, exit codes).
//
//   liftoff-cri [FLAGS]          serve (the default command)
//   liftoff-cri config [FLAGS]   print the effective configuration (defaults, file, flags) as TOML
import ArgumentParser
import Foundation
import LiftoffCRI
import LiftoffCore
import LiftoffOS
import Logging

@main
struct LiftoffCRICommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "liftoff-cri",
    abstract: "Liftoff's CRI service (runtime.v1 RuntimeService + ImageService) for kubelet and crictl.",
    version: LiftoffVersion.version,
    subcommands: [Serve.self, ConfigDump.self],
    defaultSubcommand: Serve.self)
}

/// The settings every command takes: each overrides the configuration file's value of the same name.
struct ServerFlags: ParsableArguments {
  @Option(help: "gRPC Unix socket to listen on (default /run/liftoff/cri.sock).")
  var socket: String?
  @Option(help: "Liftoff state directory: pods and images (default /var/lib/liftoff).")
  var dir: String?
  @Option(help: "TOML configuration file; keys are the flag names (default /etc/liftoff/cri.toml).")
  var config: String?
  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info).")
  var logLevel: String?
  @Option(help: "CNI network configuration directory (default /etc/cni/net.d).")
  var cniConfDir: String?
  @Option(help: "CNI plugin directories, colon-separated (default /opt/cni/bin:/usr/lib/cni).")
  var cniBinDir: String?
  @Option(help: "Use the embedded default network when no CNI configuration exists: true or false (default true).")
  var cniDefaultNetwork: Bool?
  @Option(help: "Registry host configuration directory, hosts.toml layout (default /etc/liftoff/certs.d).")
  var registryConfigDir: String?
  @Option(help: "Address of the streaming server for exec, attach and port-forward (default 127.0.0.1).")
  var streamAddress: String?
  @Option(help: "Port of the streaming server; 0 picks a free port (default 0).")
  var streamPort: Int?
  @Option(name: .customLong("stream-tls-cert"), help: "PEM certificate for the streaming server (HTTPS; with --stream-tls-key).")
  var streamTLSCert: String?
  @Option(name: .customLong("stream-tls-key"), help: "PEM private key for the streaming server's certificate.")
  var streamTLSKey: String?
  @Option(help: "cgroup driver kubelet must match: cgroupfs or systemd (systemd needs systemd as PID 1; default cgroupfs).")
  var cgroupDriver: String?
  @Option(help: "Most bytes of file content one pulled image may unpack to: bytes, or with K, M, G, T (default 64G).")
  var maxUnpackedBytes: String?
  @Option(help: "Most entries (files, directories, links) one pulled image may unpack (default 4194304).")
  var maxUnpackedEntries: String?
  @Option(help: "Image trust policy directory: policy.toml or policy.json, and keys/ (default /etc/liftoff/trust).")
  var trustDir: String?
  @Option(
    name: .customLong("pinned-images"),
    help: "An image reported pinned, so kubelet's image GC keeps it: a reference or an image ID; repeat for more (replaces the file's list).")
  var pinnedImages: [String] = []
  @Option(
    name: .customLong("cdi-spec-dirs"),
    help: "A CDI spec directory; repeat for more, later ones take precedence (replaces the file's list; default /etc/cdi, /var/run/cdi).")
  var cdiSpecDirs: [String] = []
  @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics ([V6]:PORT for IPv6; default: off).")
  var metricsAddress: String?
  @Option(help: "Cancel an image pull that receives no byte for this long: 5m, 90s, 1m30s, 500ms; 0 never (default 5m).")
  var imagePullProgressTimeout: String?

  /// Defaults, then the configuration file, then these flags; validated.
  func settings() throws -> CRIConfig {
    var settings = try CRIConfig.load(path: config)
    if let socket { settings.socket = socket }
    if let dir { settings.dir = dir }
    if let logLevel { settings.logLevel = logLevel }
    if let cniConfDir { settings.cniConfDir = cniConfDir }
    if let cniBinDir { settings.cniBinDir = cniBinDir }
    if let cniDefaultNetwork { settings.cniDefaultNetwork = cniDefaultNetwork }
    if let registryConfigDir { settings.registryConfigDir = registryConfigDir }
    if let streamAddress { settings.streamAddress = streamAddress }
    if let streamPort { settings.streamPort = streamPort }
    if let streamTLSCert { settings.streamTLSCert = streamTLSCert }
    if let streamTLSKey { settings.streamTLSKey = streamTLSKey }
    if let cgroupDriver { settings.cgroupDriver = cgroupDriver }
    try settings.setUnpackLimits(bytes: maxUnpackedBytes, entries: maxUnpackedEntries, prefix: "--")
    if let trustDir { settings.trustDir = trustDir }
    if !pinnedImages.isEmpty { settings.pinnedImages = pinnedImages }
    if !cdiSpecDirs.isEmpty { settings.cdiSpecDirs = cdiSpecDirs }
    if let metricsAddress { settings.metricsAddress = metricsAddress }
    if let imagePullProgressTimeout { settings.imagePullProgressTimeout = imagePullProgressTimeout }
    try settings.validate()
    return settings
  }
}

/// Runs `body`; a LiftoffError becomes one line on stderr and its exit code.
func exitingOnError(_ body: () async throws -> Void) async throws {
  do {
    try await body()
  } catch let error as LiftoffError {
    FileHandle.standardError.write(Data("liftoff-cri: \(error)\n".utf8))
    throw ExitCode(error.exitCode)
  }
}

struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve", abstract: "Serve the CRI on the socket (the default command).")
  @OptionGroup var flags: ServerFlags

  func run() async throws {
    // Before anything starts a process: no child inherits $NOTIFY_SOCKET.
    let notify = SystemdNotify.fromEnvironment()
    try await exitingOnError {
      // liftoff-cri.socket: the CRI socket from systemd; the variables go, as $NOTIFY_SOCKET did.
      let activation = try SocketActivation.inherited(unsetEnvironment: true)
      let settings = try flags.settings()
      let level = settings.loggerLevel
      LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
      }
      let logger = Logger(label: "liftoff-cri")
      if !CRIServer.tasksOnEventLoops() { logger.warning("Swift tasks stay on their own threads (the runtime hook is not exported)") }
      try await CRIServer(runtime: CRIRuntime(config: settings, logger: logger), notify: notify, activation: activation).run()
    }
  }
}

struct ConfigDump: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "config",
    abstract: "Print the effective configuration (defaults, config file, flags) as TOML that --config loads back.")
  @OptionGroup var flags: ServerFlags

  func run() async throws {
    try await exitingOnError {
      print(try flags.settings().tomlDocument(), terminator: "")
    }
  }
}
