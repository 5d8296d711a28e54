// RunPodSandbox: creates and starts a pod-level sandbox; on success the sandbox is READY (stage1 has
// answered on its control socket — no fixed sleep, unlike rktlet).
// Contract: metadata name, namespace and uid are required (INVALID_ARGUMENT naming the field); the
// (name, namespace, uid, attempt) tuple is unique (ALREADY_EXISTS naming the holder); the runtime
// handler selects the stage1 flavor ("" and "default" → default, "fly" → fly; others INVALID_ARGUMENT).
// Networking: NODE network namespace → the host's; otherwise the pod gets its own network namespace
// (loopback only until CNI set-up in stage0 is wired: see the README's CRI table).
import GRPCCore
import LiftoffCore

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
      let flavor: String
      switch request.runtimeHandler {
      case "", "default": flavor = "default"
      case "fly": flavor = "fly"
      default:
        throw LiftoffError.invalidArgument(
          "runtime_handler \"\(request.runtimeHandler)\" is not one of \"\", \"default\", \"fly\"")
      }
      for key in config.annotations.keys where key.hasPrefix(CRIKeys.prefix) {
        throw LiftoffError.invalidArgument("config.annotations: key \"\(key)\" uses the reserved prefix \(CRIKeys.prefix)")
      }
      let linux = config.linux
      let options = linux.securityContext.namespaceOptions
      let hostNetwork = options.network == .node
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
          (CRIKeys.pidMode, "\(options.pid)"), (CRIKeys.ipcMode, "\(options.ipc)"),
        ]
        if !config.logDirectory.isEmpty { annotations.append((CRIKeys.logDirectory, config.logDirectory)) }
        annotations += config.annotations.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        var arguments = ["app", "sandbox", "--net", hostNetwork ? "host" : "none", "--stage1", flavor]
        if !config.hostname.isEmpty { arguments += ["--hostname", config.hostname] }
        for (k, v) in annotations { arguments += ["--annotation", "\(k)=\(v)"] }
        for (k, v) in config.labels.sorted(by: { $0.key < $1.key }) { arguments += ["--label", "\(k)=\(v)"] }
        let output = try await runtime.stage0.run(arguments)
        let id = output.trimmingCharacters(in: .whitespacesAndNewlines)
        guard id.count == 64, id.allSatisfy(\.isHexDigit) else {
          throw LiftoffError.internal("liftoff app sandbox printed \"\(id)\" instead of a pod id")
        }
        runtime.logger.info("sandbox started", metadata: ["id": "\(id)", "name": "\(identity)"])
        var response = Runtime_V1_RunPodSandboxResponse()
        response.podSandboxID = id
        return response
      }
    }
  }
}
