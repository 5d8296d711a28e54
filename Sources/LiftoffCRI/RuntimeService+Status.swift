// Status: whether the runtime and the pod network are ready, each condition with a true reason when
// false. kubelet marks the node NotReady on either; it must never be a guess.
//   RuntimeReady — the state directory is usable and the `liftoff` and `liftoff-stage1` executables
//                  that every pod operation runs are present beside liftoff-cri.
//   NetworkReady — a CNI network is configured (the conf dir's, or the embedded default when on), valid,
//                  and every plugin it needs is on the plugin path (CNI 1.1: and its STATUS passes).
//                  Read from disk on every call: a network that appears makes it true without a restart.
// `verbose` adds `info` entries, each a JSON document: "config", "runtime" and "network" (the CNI
// network in force: its name, source and, for the embedded default, the subnet).
import Foundation
import GRPCCore
import LiftoffCore
import LiftoffOS

extension RuntimeService {
  public func status(
    request: Runtime_V1_StatusRequest, context: ServerContext
  ) async throws -> Runtime_V1_StatusResponse {
    try await handle("Status", runtime) {
      var response = Runtime_V1_StatusResponse()
      response.status.conditions = [runtimeCondition(), networkCondition()]
      // The handlers RunPodSandbox accepts ("" is the default; cri.toml's beside the built-ins). Recursive read-only mounts where the
      // kernel has mount_setattr(2) (every flavor binds volumes the same way); user namespaces for the
      // default flavor when the start-up probe succeeded (CRIUserNamespace.swift), never for fly;
      // Merge/Strict supplemental groups are.
      let recursiveReadOnly = Mounts.hasMountSetattr
      let handlers = runtime.config.effectiveRuntimeHandlers
      response.runtimeHandlers = handlers.keys.sorted().map { name in
        var handler = Runtime_V1_RuntimeHandler()
        handler.name = name
        handler.features.recursiveReadOnlyMounts = recursiveReadOnly
        handler.features.userNamespaces = handlers[name]!.flavor != .fly && runtime.userNamespacesUnsupported == nil
        return handler
      }
      response.features.supplementalGroupsPolicy = true
      // A user-namespaced pod's namespaces stay the host user namespace's (CRIUserNamespace.swift), so
      // the host's network works the same in one.
      response.features.userNamespacesHostNetwork = runtime.userNamespacesUnsupported == nil
      if request.verbose {
        response.info = try verboseInfo()
      }
      return response
    }
  }

  func runtimeCondition() -> Runtime_V1_RuntimeCondition {
    var c = Runtime_V1_RuntimeCondition()
    c.type = "RuntimeReady"
    c.status = true
    let fm = FileManager.default
    var isDir: ObjCBool = false
    if !fm.fileExists(atPath: runtime.config.dir, isDirectory: &isDir) || !isDir.boolValue
      || !fm.isWritableFile(atPath: runtime.config.dir)
    {
      c.status = false
      c.reason = "StateDirectoryUnusable"
      c.message = "state directory \(runtime.config.dir) is missing or not writable"
    } else if let missing = [runtime.liftoffPath, runtime.stage1Path, runtime.enterPath].first(where: { !fm.isExecutableFile(atPath: $0) }) {
      c.status = false
      c.reason = "ExecutableMissing"
      c.message = "\(missing) is missing or not executable (liftoff-cri runs it for every pod change)"
    }
    return c
  }

  func networkCondition() -> Runtime_V1_RuntimeCondition {
    let status = runtime.cni.networkStatus()
    var c = Runtime_V1_RuntimeCondition()
    c.type = "NetworkReady"
    c.status = status.ready
    c.reason = status.reason
    c.message = status.message
    return c
  }

  func verboseInfo() throws -> [String: String] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    struct RuntimeInfo: Encodable {
      var name: String
      var version: String
      var liftoff: String
      var stage1: String
      var imagesDir: String
      var podsDir: String
      /// What security-context requests can be honoured: an AppArmor or SELinux profile request fails
      /// with a clear error (liftoff applies neither, even where the host has one).
      var security: Security
      /// What each runtime handler gives a pod (`fly`: host namespaces, every capability, no seccomp,
      /// so privileged sandboxes and containers only).
      var runtimeHandlers: [String: String]
      struct Security: Encodable {
        var seccomp: Bool
        var apparmor: Bool
        var selinux: Bool
        var userNamespaces: Bool
        enum CodingKeys: String, CodingKey {
          case seccomp, apparmor = "apparmorOnHost", selinux = "selinuxOnHost", userNamespaces
        }
      }
    }
    let info = RuntimeInfo(
      name: "liftoff", version: LiftoffVersion.version, liftoff: runtime.liftoffPath,
      stage1: runtime.stage1Path, imagesDir: runtime.imagesDir, podsDir: runtime.podsDir,
      security: .init(
        seccomp: true, apparmor: SecurityModules.hostHasAppArmor, selinux: SecurityModules.hostHasSELinux,
        userNamespaces: runtime.userNamespacesUnsupported == nil),
      runtimeHandlers: runtime.config.effectiveRuntimeHandlers.mapValues(\.summary))
    struct NetworkInfo: Encodable {
      var name: String?
      var source: String?
      var defaultNetworkSubnet: String?
      var error: String?
    }
    var network = NetworkInfo()
    do {
      let list = try runtime.cni.currentConfig()
      network.name = list?.name
      network.source = list?.source
    } catch {
      network.error = "\(error)"
    }
    network.defaultNetworkSubnet = runtime.cni.settings.defaultNetwork?.subnet
    return [
      "config": String(decoding: try encoder.encode(runtime.config), as: UTF8.self),
      "runtime": String(decoding: try encoder.encode(info), as: UTF8.self),
      "network": String(decoding: try encoder.encode(network), as: UTF8.self),
    ]
  }
}
