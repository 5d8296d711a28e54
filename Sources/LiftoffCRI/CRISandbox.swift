// How a CRI pod sandbox maps onto a Liftoff mutable pod (rktlet's mapping, with rkt's words):
//   RunPodSandbox  → `liftoff app sandbox` (stage1 detached; the pod ID is the sandbox ID), attached
//                    to the node's CNI network by stage0 before stage1 starts
//   StopPodSandbox → `liftoff stop`        RemovePodSandbox → `liftoff stop --force` + `liftoff rm`
//   status / list  → read from pods/… on disk through LiftoffPod (no cache that can go stale)
// The sandbox's CRI metadata lives in the pod manifest as annotations under the reserved prefix
// `io.liftoff.cri.`; the user's labels and annotations are the pod's own.
import Foundation
import LiftoffCore
import LiftoffPod

enum CRIKeys {
  static let prefix = "io.liftoff.cri."
  static let kind = prefix + "kind"
  static let name = prefix + "name"
  static let namespace = prefix + "namespace"
  static let uid = prefix + "uid"
  static let attempt = prefix + "attempt"
  static let logDirectory = prefix + "log-directory"
  static let runtimeHandler = prefix + "runtime-handler"
  static let networkMode = prefix + "network-mode"
  static let pidMode = prefix + "pid-mode"
  static let ipcMode = prefix + "ipc-mode"
  /// The seccomp profile the sandbox's runtime handler forces on containers that ask for none or
  /// Unconfined (`liftoff app add --seccomp` form), recorded at RunPodSandbox.
  static let handlerSeccomp = prefix + "handler-seccomp"
  static let sandboxKind = "sandbox"
}

/// A sandbox as read from disk.
struct CRISandbox: Sendable {
  var id: String
  var place: PodStore.Place
  var manifest: PodManifest
  var status: PodStatus

  var ready: Bool { status.state == "running" }
  var name: String { manifest.annotations[CRIKeys.name] ?? "" }
  var namespace: String { manifest.annotations[CRIKeys.namespace] ?? "" }
  var uid: String { manifest.annotations[CRIKeys.uid] ?? "" }
  var attempt: UInt32 { UInt32(manifest.annotations[CRIKeys.attempt] ?? "") ?? 0 }
  var runtimeHandler: String { manifest.annotations[CRIKeys.runtimeHandler] ?? "" }
  var handlerSeccomp: String? { manifest.annotations[CRIKeys.handlerSeccomp] }
  var userAnnotations: [String: String] { manifest.annotations.filter { !$0.key.hasPrefix(CRIKeys.prefix) } }
  /// kubelet's identity of a sandbox: name, namespace, uid and attempt together are unique.
  var identity: String { "\(name)_\(namespace)_\(uid)_\(attempt)" }

  var createdAtNanoseconds: Int64 {
    guard let t = Timestamp.parse(manifest.createdAt) else { return 0 }
    return t.seconds * 1_000_000_000 + t.nanoseconds
  }

  var metadata: Runtime_V1_PodSandboxMetadata {
    var m = Runtime_V1_PodSandboxMetadata()
    m.name = name
    m.namespace = namespace
    m.uid = uid
    m.attempt = attempt
    return m
  }
}

// MARK: - status

extension CRISandbox {
  /// The sandbox's CRI status (PodSandboxStatus, container events).
  var criStatus: Runtime_V1_PodSandboxStatus {
    var s = Runtime_V1_PodSandboxStatus()
    s.id = id
    s.metadata = metadata
    s.state = ready ? .sandboxReady : .sandboxNotready
    s.createdAt = createdAtNanoseconds
    s.labels = manifest.labels
    s.annotations = userAnnotations
    s.runtimeHandler = runtimeHandler
    var namespaces = Runtime_V1_NamespaceOption()
    namespaces.network = Runtime_V1_NamespaceMode(name: manifest.annotations[CRIKeys.networkMode]) ?? .pod
    namespaces.pid = Runtime_V1_NamespaceMode(name: manifest.annotations[CRIKeys.pidMode]) ?? .container
    namespaces.ipc = Runtime_V1_NamespaceMode(name: manifest.annotations[CRIKeys.ipcMode]) ?? .pod
    namespaces.usernsOptions = CRIUserNamespace.options(manifest.userNamespace)
    s.linux.namespaces.options = namespaces
    // The pod's addresses from its CNI attachment, primary (IPv4) first; none for host network.
    if let ips = status.ips, let primary = ips.first {
      s.network.ip = primary
      s.network.additionalIps = ips.dropFirst().map { ip in
        var p = Runtime_V1_PodIP()
        p.ip = ip
        return p
      }
    }
    return s
  }
}

extension CRIRuntime {
  var podStore: PodStore {
    get throws { try PodStore(root: config.dir) }
  }

  var stage0: Stage0 {
    Stage0(
      liftoff: liftoffPath,
      settings: Stage0Settings(
        dir: config.dir, cniConfDir: config.cniConfDir,
        cniBinDirs: config.cniBinDir.split(separator: ":").map(String.init).filter { !$0.isEmpty },
        cniDefaultNetwork: config.cniDefaultNetwork, trustDir: config.trustDir),
      metrics: prometheus, spare: stage0Spare)
  }

  /// Every CRI sandbox (pods that `liftoff app sandbox` made for the CRI), in creation order: from the
  /// index (PodIndex.swift).
  func sandboxes() throws -> [CRISandbox] { try index.sandboxes() }

  /// Every CRI sandbox on disk, read now.
  static func readSandboxes(pods manager: PodManager, manifests: PodManifestCache) throws -> [CRISandbox] {
    let store = manager.store
    var result: [CRISandbox] = []
    var seen = Set<String>()
    for (id, place) in store.all() {
      seen.insert("\(store.path(place, id))/pod.json")
      guard let manifest = try? manifests.manifest(store, id, at: place),
        manifest.annotations[CRIKeys.kind] == CRIKeys.sandboxKind
      else { continue }
      result.append(CRISandbox(id: id, place: place, manifest: manifest, status: manager.status(id, place, manifest: manifest)))
    }
    manifests.retain(only: seen)
    return result
  }

  /// One CRI sandbox as on disk now; nil when it is gone or not a CRI sandbox.
  static func readSandbox(_ id: String, pods manager: PodManager, manifests: PodManifestCache) -> CRISandbox? {
    let store = manager.store
    guard let place = store.locate(id), let manifest = try? manifests.manifest(store, id, at: place),
      manifest.annotations[CRIKeys.kind] == CRIKeys.sandboxKind
    else { return nil }
    return CRISandbox(id: id, place: place, manifest: manifest, status: manager.status(id, place, manifest: manifest))
  }

  /// The sandbox with this ID or unique ID prefix; NOT_FOUND otherwise. A full ID the index does not
  /// know is looked for on disk before it is declared missing.
  func sandbox(_ idOrPrefix: String) throws -> CRISandbox {
    if PodID.isValid(idOrPrefix) {
      if let s = try index.sandbox(id: idOrPrefix) { return s }
      index.refresh(idOrPrefix)
      if let s = try index.sandbox(id: idOrPrefix) { return s }
    }
    return try Self.unique(idOrPrefix, in: try sandboxes(), id: \.id, field: "pod_sandbox_id", what: "pod sandbox")
  }

  /// Runs `body` (which changes pod `id` through `liftoff`) under the pod's lock, then reads the pod
  /// again into the index, whatever `body` did.
  func changingPod<T: Sendable>(_ id: String, _ body: @Sendable () async throws -> T) async throws -> T {
    try await podLocks.withLock(id) {
      defer { index.refresh(id) }
      return try await body()
    }
  }

  /// The sandbox, or nil when it does not exist (Stop and Remove of what is gone succeed).
  func existingSandbox(_ idOrPrefix: String) throws -> CRISandbox? {
    try Self.nilIfNotFound { try sandbox(idOrPrefix) }
  }

  /// The one item whose ID starts with `prefix` (CRI IDs: any unique prefix works). An empty prefix is
  /// INVALID_ARGUMENT naming `field`, no match NOT_FOUND, several INVALID_ARGUMENT.
  static func unique<T>(_ prefix: String, in items: [T], id: (T) -> String, field: String, what: String) throws -> T {
    guard !prefix.isEmpty else { throw LiftoffError.invalidArgument("\(field) is empty") }
    let matches = items.filter { id($0).hasPrefix(prefix) }
    guard let first = matches.first else { throw LiftoffError.notFound("\(what) \(prefix) not found") }
    guard matches.count == 1 else {
      throw LiftoffError.invalidArgument("\(what) id prefix \(prefix) is ambiguous (\(matches.count) of them)")
    }
    return first
  }

  /// `body`'s result, or nil when it throws NOT_FOUND.
  static func nilIfNotFound<T>(_ body: () throws -> T) throws -> T? {
    do {
      return try body()
    } catch let e as LiftoffError where e.code == .notFound {
      return nil
    }
  }
}
