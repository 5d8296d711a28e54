// What every CRI RPC shares: the configuration, the logger, the paths of the on-disk state and of
// the `liftoff` / `liftoff-stage1` executables, and the in-memory index of the pods on disk that reads
// are answered from (PodIndex.swift: disk stays the truth, the index follows it).
import Foundation
import LiftoffCDI
import LiftoffCore
import LiftoffStreaming
import LiftoffNet
import LiftoffOS
import LiftoffPod
import Logging
import Synchronization

public final class CRIRuntime: Sendable {
  public let config: CRIConfig
  public let logger: Logger
  /// Directory that holds `liftoff` and `liftoff-stage1` (beside `liftoff-cri`'s own executable).
  public let binDir: String
  /// The node's CNI network: configuration is re-read on every call, so Status follows the disk.
  public let cni: CNIManager
  /// Serialises operations on one pod (and RunPodSandbox on one sandbox name).
  let podLocks = PodLocks()
  /// The previous CPU sample per container and sandbox, for `usage_nano_cores` (CRIStats.swift).
  let cpuSamples = CPUSamples()
  /// GetContainerEvents subscribers and the lifecycle events sent so far.
  let events: ContainerEventHub
  /// Gives memory back when the server goes idle.
  let trimmer = IdleTrimmer()
  /// Parsed pod manifests, re-read only when a pod.json changes (every lookup walks the pods).
  let manifests: PodManifestCache
  /// The CRI sandboxes and containers, in memory (PodIndex.swift).
  let index: PodIndex
  /// Prometheus metrics (PrometheusMetrics.swift), served when metrics-address is set.
  public let prometheus: PrometheusMetrics
  /// The streaming server for Exec, Attach and PortForward (started by CRIServer.run): an RPC gets
  /// its response URL from `streaming.register(...)`.
  public let streaming: StreamingServer
  /// Why user-namespaced pods cannot run here (the start-up probe, CRIUserNamespace.swift); nil: they can.
  let userNamespacesUnsupported: String?
  /// Parsed CDI spec files, parsed again only when a file changes (LiftoffCDI CDIRegistry.swift).
  let cdiSpecs = CDISpecCache()
  /// The `liftoff` started ahead for the next pod change (Stage0.swift, SpareProcess).
  let stage0Spare: SpareProcess

  public init(
    config: CRIConfig, logger: Logger, binDir: String? = nil,
    streamingBackend: (any StreamingBackend)? = nil
  ) {
    self.config = config
    self.logger = logger
    let manifests = PodManifestCache()
    let events = ContainerEventHub()
    self.manifests = manifests
    self.events = events
    let dir = config.dir
    let pods = IndexPods(dir: dir)
    self.index = PodIndex(
      read: { id in (try? pods.manager()).flatMap { CRIRuntime.readSandbox(id, pods: $0, manifests: manifests) } },
      readAll: { try CRIRuntime.readSandboxes(pods: pods.manager(), manifests: manifests) },
      changed: { old, new in Task { await events.podChanged(from: old, to: new) } })
    let binDir = binDir ?? CRIRuntime.ownExecutableDir()
    self.binDir = binDir
    self.stage0Spare = Stage0.spare(binDir + "/liftoff")
    self.userNamespacesUnsupported = CRIRuntime.probeUserNamespaces(dir: config.dir)
    if let why = userNamespacesUnsupported {
      logger.warning("user namespaces are not available: pods asking for one are refused", metadata: ["reason": "\(why)"])
    }
    let prometheus = PrometheusMetrics()
    self.prometheus = prometheus
    // liftoff-cri's own plugin runs (STATUS for NetworkReady) go straight to the metrics; the `liftoff`
    // processes it runs report theirs on stderr (Stage0.swift).
    self.cni = CNIManager(
      settings: .node(
        stateDir: config.dir, confDir: config.cniConfDir, binDirs: config.cniBinDirs,
        defaultNetwork: config.cniDefaultNetwork),
      reporter: { prometheus.observeCNIPlugin($0) })
    streaming = StreamingServer(
      address: config.streamAddress, port: config.streamPort,
      tls: config.streamTLSCert.flatMap { cert in config.streamTLSKey.map { (certificate: cert, key: $0) } },
      backend: streamingBackend ?? ContainerStreamingBackend(enterPath: binDir + "/liftoff-enter", dataDir: config.dir),
      logger: logger)
  }

  public var imagesDir: String { config.dir + "/images" }
  public var podsDir: String { config.dir + "/pods" }
  public var liftoffPath: String { binDir + "/liftoff" }
  public var stage1Path: String { binDir + "/liftoff-stage1" }
  public var enterPath: String { binDir + "/liftoff-enter" }

  /// The directory of the running executable, from /proc/self/exe.
  static func ownExecutableDir() -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
    return (exe as NSString).deletingLastPathComponent
  }
}

/// The store and manager the pod index reads through. The index reads pods after every change and on
/// every stage1 event: one of each for all of them (PodStore(root:) checks its directories and resolves
/// the root, Cgroups.host() probes the hierarchy — half of each read's cost when they were made anew).
/// Made at the first read, as before, not when the runtime is made (making the store creates the data
/// directory's tree); made again at the next read while the data directory cannot be used, so that the
/// error is the one of the moment.
final class IndexPods: Sendable {
  let dir: String
  private let made = Mutex<PodManager?>(nil)
  init(dir: String) { self.dir = dir }

  func manager() throws -> PodManager {
    if let m = made.withLock({ $0 }) { return m }
    let m = PodManager(store: try PodStore(root: dir))
    made.withLock { $0 = $0 ?? m }
    return m
  }
}
