// How a CRI container maps onto an app of a Liftoff mutable pod (rktlet's mapping):
//   CreateContainer → `liftoff app add SANDBOX IMAGE-ID --name <container id> …`
//   StartContainer  → `liftoff app start`      StopContainer → `liftoff app stop --timeout`
//   RemoveContainer → `liftoff app rm`         status / list → pods/… on disk through LiftoffPod
// The app's name *is* the container ID (64 hex characters), so a container is found by scanning the
// sandboxes' manifests (held in memory by PodIndex, which follows the disk). The container's CRI metadata lives
// in the app's annotations under the reserved prefix `io.liftoff.cri.`; its labels and the user's
// annotations are the app's own.
import Foundation
import LiftoffCore
import LiftoffImage
import LiftoffOS
import LiftoffPod

extension CRIKeys {
  static let containerKind = "container"
  /// The image as CreateContainer named it, the repo digest it resolved to, and its ID.
  static let image = prefix + "image"
  static let imageRef = prefix + "image-ref"
  static let logPath = prefix + "log-path"
  static let stopSignal = prefix + "stop-signal"
}

/// A container as read from disk.
struct CRIContainer: Sendable {
  var sandbox: CRISandbox
  var app: AppManifest
  var status: AppStatus

  var id: String { app.name }
  var name: String { app.annotations[CRIKeys.name] ?? "" }
  var attempt: UInt32 { UInt32(app.annotations[CRIKeys.attempt] ?? "") ?? 0 }
  var userAnnotations: [String: String] { app.annotations.filter { !$0.key.hasPrefix(CRIKeys.prefix) } }
  var logPath: String { app.annotations[CRIKeys.logPath] ?? "" }

  var state: Runtime_V1_ContainerState {
    switch status.state {
    case "created": return .containerCreated
    case "running": return .containerRunning
    case "exited": return .containerExited
    default: return .containerUnknown
    }
  }

  var metadata: Runtime_V1_ContainerMetadata {
    var m = Runtime_V1_ContainerMetadata()
    m.name = name
    m.attempt = attempt
    return m
  }

  var imageSpec: Runtime_V1_ImageSpec {
    var s = Runtime_V1_ImageSpec()
    s.image = app.annotations[CRIKeys.image] ?? app.image.name
    return s
  }
  var imageRef: String { app.annotations[CRIKeys.imageRef] ?? app.image.id }

  var createdAtNanoseconds: Int64 { Self.nanoseconds(app.createdAt) }

  static func nanoseconds(_ rfc3339: String?) -> Int64 {
    guard let s = rfc3339, let t = Timestamp.parse(s) else { return 0 }
    return t.seconds * 1_000_000_000 + t.nanoseconds
  }

  /// The `Container` of ListContainers / StreamContainers.
  var listItem: Runtime_V1_Container {
    var c = Runtime_V1_Container()
    c.id = id
    c.podSandboxID = sandbox.id
    c.metadata = metadata
    c.image = imageSpec
    c.imageRef = imageRef
    c.imageID = app.image.id
    c.state = state
    c.createdAt = createdAtNanoseconds
    c.labels = app.labels
    c.annotations = userAnnotations
    return c
  }

  /// The full `ContainerStatus`.
  var criStatus: Runtime_V1_ContainerStatus {
    var s = Runtime_V1_ContainerStatus()
    s.id = id
    s.metadata = metadata
    s.state = state
    s.createdAt = createdAtNanoseconds
    s.startedAt = Self.nanoseconds(status.startedAt)
    s.finishedAt = Self.nanoseconds(status.finishedAt)
    s.exitCode = status.exitCode ?? 0
    s.image = imageSpec
    s.imageRef = imageRef
    s.imageID = app.image.id
    if state == .containerExited {
      switch status.reason {
      case AppState.Reason.startFailed.rawValue: s.reason = "StartError"
      case let r?: s.reason = r
      case nil: s.reason = (status.exitCode ?? 0) == 0 ? "Completed" : "Error"
      }
      s.message = status.message ?? ""
    }
    s.labels = app.labels
    s.annotations = userAnnotations
    s.mounts = app.mounts.filter { ($0.type == "bind" && !$0.source.isEmpty) || $0.type == "image" }.map { m in
      var cm = Runtime_V1_Mount()
      cm.containerPath = m.destination
      if let image = m.image {
        // An image volume as kubelet asked for it (containerd reports the request's mount).
        cm.image.image = image.name
        cm.imageSubPath = m.subPath ?? ""
        cm.readonly = true
        return cm
      }
      cm.hostPath = m.source
      cm.readonly = m.readOnly
      cm.recursiveReadOnly = m.recursiveReadOnly
      switch m.propagation {
      case .slave, .rslave: cm.propagation = .propagationHostToContainer
      case .shared, .rshared: cm.propagation = .propagationBidirectional
      case .private, .rprivate: cm.propagation = .propagationPrivate
      }
      return cm
    }
    s.logPath = logPath
    if let n = app.stopSignal {
      if n >= 34 && n <= 64 {
        s.stopSignal = Runtime_V1_Signal(rawValue: n + 1) ?? .runtimeDefault
      } else if let i = ContainerArguments.signalNames.firstIndex(where: { ProcessControl.signalNumber($0) == Int32(n) }) {
        s.stopSignal = Runtime_V1_Signal(rawValue: i + 1) ?? .runtimeDefault
      }
    }
    var user = Runtime_V1_LinuxContainerUser()
    user.uid = Int64(app.user.uid)
    user.gid = Int64(app.user.gid)
    user.supplementalGroups = app.user.additionalGids.map { Int64($0) }
    s.user.linux = user
    var linux = Runtime_V1_LinuxContainerResources()
    let r = app.resources
    if let m = r.memoryBytes { linux.memoryLimitInBytes = m }
    if let m = r.memorySwapBytes ?? r.memoryBytes { linux.memorySwapLimitInBytes = m }
    if let p = r.effectiveCPUPeriodUs { linux.cpuPeriod = p }
    if let q = r.effectiveCPUQuotaUs { linux.cpuQuota = q }
    if let sh = r.cpuShares { linux.cpuShares = sh }
    linux.cpusetCpus = r.cpusetCpus ?? ""
    linux.cpusetMems = r.cpusetMems ?? ""
    linux.hugepageLimits = r.hugepageLimits.map { h in
      var l = Runtime_V1_HugepageLimit()
      l.pageSize = h.pageSize
      l.limit = UInt64(max(0, h.limitBytes))
      return l
    }
    if let adj = app.oomScoreAdj { linux.oomScoreAdj = Int64(adj) }
    linux.unified = r.unified
    s.resources.linux = linux
    return s
  }
}

extension CRIRuntime {
  /// Every CRI container on disk, in creation order.
  func containers(in sandboxes: [CRISandbox]? = nil) throws -> [CRIContainer] {
    let result = try (sandboxes ?? self.sandboxes()).flatMap { Self.containers(of: $0) }
    return result.sorted { ($0.app.createdAt, $0.id) < ($1.app.createdAt, $1.id) }
  }

  /// The CRI containers of one sandbox.
  static func containers(of sandbox: CRISandbox) -> [CRIContainer] {
    sandbox.manifest.apps.compactMap { app in
      guard app.annotations[CRIKeys.kind] == CRIKeys.containerKind,
        let status = sandbox.status.apps.first(where: { $0.name == app.name })
      else { return nil }
      return CRIContainer(sandbox: sandbox, app: app, status: status)
    }
  }

  /// The container with this ID or unique ID prefix; NOT_FOUND otherwise. A full ID is found through
  /// the index's container → sandbox map, without a look at every pod.
  func container(_ idOrPrefix: String) throws -> CRIContainer {
    if PodID.isValid(idOrPrefix), let sandbox = try index.sandbox(holding: idOrPrefix),
      let c = try containers(in: [sandbox]).first(where: { $0.id == idOrPrefix })
    {
      return c
    }
    return try Self.unique(idOrPrefix, in: try containers(), id: \.id, field: "container_id", what: "container")
  }

  /// The container, or nil when it does not exist (Stop and Remove of what is gone succeed).
  func existingContainer(_ idOrPrefix: String) throws -> CRIContainer? {
    try Self.nilIfNotFound { try container(idOrPrefix) }
  }

  /// Where streaming and exec find a container: its pod and app name (= the full container ID).
  public func locateContainer(_ idOrPrefix: String) throws -> (podID: String, app: String) {
    let c = try container(idOrPrefix)
    return (c.sandbox.id, c.id)
  }

  /// A fresh container ID: 64 random hex characters.
  static func newContainerID() -> String {
    var bytes = [UInt8](repeating: 0, count: 32)
    for i in bytes.indices { bytes[i] = UInt8.random(in: 0...255) }
    return bytes.map { String(format: "%02x", $0) }.joined()
  }
}
