// RunPodSandbox: creates and starts a pod-level sandbox; on success the sandbox is READY (stage1 has
// answered on its control socket — no fixed sleep, unlike rktlet).
// Contract: metadata name, namespace and uid are required (INVALID_ARGUMENT naming the field); the
// (name, namespace, uid, attempt) tuple is unique (ALREADY_EXISTS naming the holder); the runtime
// handler selects the stage1 flavor ("" and "default" → default, "fly" → fly, and the `[runtime-handlers.NAME]`
// of cri.toml; others INVALID_ARGUMENT naming them): a handler requiring a user namespace refuses a sandbox
// without one, and one forcing a seccomp profile has it recorded in the pod for CreateContainer.
// `fly` runs every container in the host's namespaces with every capability and no seccomp: it is
// privileged whatever the pod spec says, so it is accepted only for a privileged sandbox (Pod Security
// then sees a privileged pod), and CreateContainer accepts only privileged containers in it.
// Networking: NODE network namespace → the host's; otherwise stage0 creates the pod's network namespace
// and attaches it to the node's CNI network (the conf dir's, or the embedded default) with the
// sandbox's port mappings and K8S_POD_* CNI_ARGS; a plugin's error comes back verbatim. Either way the
// pod gets a resolv.conf from the DNS config (a host-network pod: the host's file when it is empty).
import GRPCCore
import LiftoffCore
import LiftoffNet
import LiftoffPod
import LiftoffOS

extension RuntimeService {
  public func runPodSandbox(
    request: Runtime_V1_RunPodSandboxRequest, context: ServerContext
  ) async throws -> Runtime_V1_RunPodSandboxResponse {
    try await handle("RunPodSandbox", runtime) {
      let config = request.config
      let meta = config.metadata
      for (field, value) in [("name", meta.name), ("namespace", meta.namespace), ("uid", meta.uid)] where value.isEmpty {
        throw LiftoffError.invalidArgument("config.metadata.\(field) is empty")
      }
      let handler = try runtime.config.runtimeHandler(request.runtimeHandler, field: "runtime_handler")
      let flavor = handler.flavor.rawValue
      for key in config.annotations.keys where key.hasPrefix(CRIKeys.prefix) {
        throw LiftoffError.invalidArgument("config.annotations: key \"\(key)\" uses the reserved prefix \(CRIKeys.prefix)")
      }
      let linux = config.linux
      let options = linux.securityContext.namespaceOptions
      let hostNetwork = options.network == .node
      let sc = linux.securityContext
      try SecurityModules.refuseProfiles(
        selinux: sc.hasSelinuxOptions ? sc.selinuxOptions : nil, apparmor: sc.hasApparmor ? sc.apparmor : nil,
        apparmorProfile: "", field: "config.linux.security_context")
      if options.pid == .target {
        // TARGET names a container: only a container's PID namespace can be another one's.
        throw LiftoffError.invalidArgument("config.linux.security_context.namespace_options.pid TARGET applies to containers, not to a sandbox")
      }
      let usernsField = "config.linux.security_context.namespace_options.userns_options"
      let userNamespace = try CRIUserNamespace.podMappings(
        options, hasOptions: linux.securityContext.hasNamespaceOptions, field: usernsField)
      if userNamespace == nil && handler.userNamespace == .required {
        throw LiftoffError.invalidArgument(
          "runtime_handler \"\(request.runtimeHandler)\" requires a user namespace: \(usernsField) must ask for mode POD (hostUsers: false)")
      }
      if userNamespace != nil {
        if flavor == "fly" {
          throw LiftoffError.invalidArgument("\(usernsField): runtime handler \(Self.describe(request.runtimeHandler, flavor)) runs pods in the host's namespaces, without a user namespace")
        }
        if let why = runtime.userNamespacesUnsupported {
          throw LiftoffError(.failedPrecondition, "\(usernsField): user namespaces do not work on this node: \(why)")
        }
      }
      if flavor == "fly" && !sc.privileged {
        throw LiftoffError.invalidArgument(
          "runtime_handler \(Self.describe(request.runtimeHandler, flavor)) runs containers in the host's namespaces with every capability and no seccomp: it is accepted only for a privileged sandbox (config.linux.security_context.privileged)")
      }
      // Sysctls apply to the containers (CreateContainer); a pod asking for one that is not
      // namespaced, or a network one with the host's network, is refused here, naming it.
      for key in linux.sysctls.keys.sorted() {
        if let refusal = AppSecurity.sysctlRefusal(key, podHasOwnNetwork: !hostNetwork) {
          throw LiftoffError.invalidArgument("config.linux.sysctls: \(refusal)")
        }
      }
      let identity = "\(meta.name)_\(meta.namespace)_\(meta.uid)_\(meta.attempt)"

      return try await runtime.podLocks.withLock("sandbox-name:" + identity) {
        if let holder = try runtime.sandboxes().first(where: { $0.identity == identity }) {
          throw LiftoffError(
            .alreadyExists, "pod sandbox name \(identity) is already in use by sandbox \(holder.id)")
        }
        var annotations: [(String, String)] = [
          (CRIKeys.kind, CRIKeys.sandboxKind), (CRIKeys.name, meta.name), (CRIKeys.namespace, meta.namespace),
          (CRIKeys.uid, meta.uid), (CRIKeys.attempt, String(meta.attempt)),
          (CRIKeys.runtimeHandler, request.runtimeHandler), (CRIKeys.networkMode, "\(options.network)"),
          (CRIKeys.pidMode, linux.securityContext.hasNamespaceOptions ? "\(options.pid)" : "container"), (CRIKeys.ipcMode, "\(options.ipc)"),
        ]
        if !config.logDirectory.isEmpty { annotations.append((CRIKeys.logDirectory, config.logDirectory)) }
        if let seccomp = handler.seccompArgument { annotations.append((CRIKeys.handlerSeccomp, seccomp)) }
        annotations += config.annotations.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        var sandboxRequest = SandboxRequest()
        sandboxRequest.net = hostNetwork ? "host" : "default"
        sandboxRequest.stage1 = flavor
        if !config.hostname.isEmpty { sandboxRequest.hostname = config.hostname }
        if options.ipc == .node { sandboxRequest.ipcNamespace = "host" }
        sandboxRequest.userNamespace = userNamespace
        let systemdDriver = runtime.config.cgroupDriver == "systemd"
        // The systemd driver: stage1 makes the pod a transient scope unit in the slice (by name).
        if systemdDriver { sandboxRequest.cgroupDriver = "systemd" }
        if !linux.cgroupParent.isEmpty {
          let path = try Self.cgroupParentPath(linux.cgroupParent, driver: runtime.config.cgroupDriver)
          sandboxRequest.cgroupParent = systemdDriver ? linux.cgroupParent : path
        }
        // Shared only when asked for explicitly (kubelet always sends namespace options; a client
        // that sends none gets a PID namespace per container rather than a pod reaper it did not ask for).
        if linux.securityContext.hasNamespaceOptions && options.pid == .pod { sandboxRequest.pidNamespace = "pod" }
        if !hostNetwork { try Self.network(config, into: &sandboxRequest) }
        // The DNS config for either kind: a host-network pod gets a resolv.conf of its own too
        // (the host's file when the config says nothing), as containerd writes one for every sandbox.
        sandboxRequest.dns = config.dnsConfig.servers
        sandboxRequest.dnsSearch = config.dnsConfig.searches
        sandboxRequest.dnsOptions = config.dnsConfig.options
        for (k, v) in annotations { sandboxRequest.annotations[k] = v }
        sandboxRequest.labels = config.labels
        let answer: JSON
        do {
          answer = try await runtime.stage0.run(.sandbox(sandboxRequest))
        } catch {
          // Reads every pod again (a stage1 that failed announced its pod before stage0 removed it)
          // and removes what the failed stage0 left.
          await removeHalfMadeSandboxes(identity: identity)
          throw error
        }
        let id = answer["id"]?.stringValue ?? ""
        guard id.count == 64, id.allSatisfy(\.isHexDigit) else {
          throw LiftoffError.internal("liftoff app sandbox answered \(answer.serialized()) instead of a pod id")
        }
        runtime.index.refresh(id)
        runtime.logger.info("sandbox started", metadata: ["id": "\(id)", "name": "\(identity)"])
        await runtime.emit(.containerCreatedEvent, id: id, sandboxID: id)
        await runtime.emit(.containerStartedEvent, id: id, sandboxID: id)
        var response = Runtime_V1_RunPodSandboxResponse()
        response.podSandboxID = id
        return response
      }
    }
  }

  /// A `liftoff app sandbox` that failed part way can leave its pod behind: it rolls back what it can,
  /// but not after a SIGKILL (found by hack/stress.py faults: a sandbox READY in ListPodSandbox without
  /// a stage1 until the next full read). The caller never learned its ID, so it is stopped and removed
  /// here, as containerd cleans up after a failed RunPodSandbox. The name was free when this request
  /// began and its lock is held, so any sandbox of this name is this request's.
  func removeHalfMadeSandboxes(identity: String) async {
    do { try runtime.index.reload() } catch { return }
    for sandbox in (try? runtime.sandboxes()) ?? [] where sandbox.identity == identity {
      do {
        try await runtime.changingPod(sandbox.id) {
          _ = try? await runtime.stage0.run(.stopPods(ids: [sandbox.id], force: true, timeoutSeconds: nil))
          try await runtime.stage0.run(.removePods(ids: [sandbox.id]))
        }
        runtime.logger.info("half-made sandbox removed", metadata: ["id": "\(sandbox.id)", "name": "\(identity)"])
      } catch {
        runtime.logger.warning(
          "half-made sandbox not removed (RemovePodSandbox or gc can)",
          metadata: ["id": "\(sandbox.id)", "name": "\(identity)", "error": "\(error)"])
      }
    }
  }

  /// A handler in a message: `fly`, or `"NAME" (flavor fly)` for one of cri.toml's.
  static func describe(_ handler: String, _ flavor: String) -> String {
    handler == flavor ? handler : "\"\(handler)\" (flavor \(flavor))"
  }

  /// The sandbox's CNI attachment (port mappings, CNI_ARGS).
  static func network(_ config: Runtime_V1_PodSandboxConfig, into r: inout SandboxRequest) throws {
    for (i, mapping) in config.portMappings.enumerated() where mapping.hostPort > 0 {
      guard (1...65535).contains(mapping.containerPort), (1...65535).contains(mapping.hostPort) else {
        throw LiftoffError.invalidArgument(
          "config.port_mappings[\(i)]: ports must be in 1-65535 (container_port \(mapping.containerPort), host_port \(mapping.hostPort))")
      }
      let proto: String
      switch mapping.protocol {
      case .tcp: proto = "tcp"
      case .udp: proto = "udp"
      case .sctp: proto = "sctp"
      case .UNRECOGNIZED(let n):
        throw LiftoffError.invalidArgument("config.port_mappings[\(i)].protocol \(n) is not TCP, UDP or SCTP")
      }
      let m = PodNetworkRequest.PortMapping(
        hostPort: Int(mapping.hostPort), containerPort: Int(mapping.containerPort), proto: proto, hostIP: mapping.hostIp)
      try m.check("config.port_mappings[\(i)]")
      r.portMappings.append(m)
    }
    let meta = config.metadata
    r.cniArgs["K8S_POD_NAMESPACE"] = meta.namespace
    r.cniArgs["K8S_POD_NAME"] = meta.name
    r.cniArgs["K8S_POD_UID"] = meta.uid
  }

  /// The sandbox's cgroup parent as a cgroupfs path: with the cgroupfs driver a path of names
  /// (`/kubepods/burstable/pod<uid>`); with the systemd driver a slice name
  /// (`kubepods-burstable-pod<uid>.slice`), expanded as systemd lays slices out (`liftoff app sandbox`
  /// gets the name: the pod becomes the scope `liftoff-<id>.scope` in that slice).
  static func cgroupParentPath(_ parent: String, driver: String) throws -> String {
    if driver == "systemd" {
      guard let path = Cgroups.expandSlice(parent), !path.isEmpty else {
        throw LiftoffError.invalidArgument(
          "config.linux.cgroup_parent \(parent) is not a systemd slice name (the cgroup driver is systemd)")
      }
      return "/" + path
    }
    guard Cgroups.parentPath(parent) != nil else {
      throw LiftoffError.invalidArgument("config.linux.cgroup_parent \(parent) is not a path of names")
    }
    return parent
  }
}
