// CreateContainer's request as `liftoff app add` arguments: one place that turns a CRI ContainerConfig
// into the executor's app flags (security context and resources in their own files). Every field that
// the executor cannot honour yet is refused with INVALID_ARGUMENT or UNIMPLEMENTED naming the field —
// never dropped silently.
//
// Command and args follow Kubernetes: `command` replaces the image's entrypoint (and drops its cmd),
// `args` replace the image's cmd.
import Foundation
import LiftoffCDI
import LiftoffCore
import LiftoffOS

struct ContainerArguments {
  let request: Runtime_V1_CreateContainerRequest
  let sandbox: CRISandbox
  let containerID: String
  /// The image's ID (`sha256:…`), as ImageService resolved the request's image.
  let imageID: String
  let imageName: String
  let imageRef: String
  /// The image IDs of the image volumes (`config.mounts[i].image`), by mount index, as CreateContainer
  /// resolved them in the store.
  var volumeImages: [Int: String] = [:]
  /// The CDI devices asked for, resolved by CreateContainer (ContainerArguments+CDI.swift).
  var cdiDevices: [CDIRegistry.Resolved] = []

  var config: Runtime_V1_ContainerConfig { request.config }

  /// The full CRI log path: the sandbox's log directory joined with the container's log_path; empty
  /// when either is empty (the container then logs nowhere, as in containerd).
  var logPath: String {
    let dir = sandbox.manifest.annotations[CRIKeys.logDirectory] ?? ""
    guard !dir.isEmpty, !config.logPath.isEmpty else { return "" }
    return config.logPath.hasPrefix("/") ? config.logPath : (dir as NSString).appendingPathComponent(config.logPath)
  }

  /// `app add POD IMAGE --name ID [flags] [-- ARGS]`, and its standard input: the container's
  /// environment (`--set-env-file -`, NUL-separated KEY=VALUE entries). The environment never goes on
  /// the command line, where every local user reads it in /proc/PID/cmdline.
  func make() throws -> (arguments: [String], stdin: [UInt8]) {
    var a = ["app", "add", sandbox.id, imageID, "--name", containerID]
    var env: [String] = []
    let command = config.command
    if let first = command.first {
      guard !first.isEmpty else { throw LiftoffError.invalidArgument("config.command[0] is empty") }
      a += ["--exec", first]
    }
    if !config.workingDir.isEmpty {
      guard config.workingDir.hasPrefix("/") else {
        throw LiftoffError.invalidArgument("config.working_dir \(config.workingDir) is not an absolute path")
      }
      a += ["--working-dir", config.workingDir]
    }
    for (i, kv) in config.envs.enumerated() {
      guard !kv.key.isEmpty, !kv.key.contains("=") else {
        throw LiftoffError.invalidArgument("config.envs[\(i)].key \"\(kv.key)\" is empty or contains '='")
      }
      // `value` is `bytes` in the v0.36 proto (the same wire encoding as the string it was).
      guard !kv.value.contains(0), let value = String(data: kv.value, encoding: .utf8) else {
        throw LiftoffError.invalidArgument("config.envs[\(i)] (\(kv.key)): the value is not UTF-8 text without NUL")
      }
      env.append("\(kv.key)=\(value)")
    }
    let cdi = try cdiChanges()
    for kv in cdi.env {
      let key = kv.prefix { $0 != "=" }
      env.removeAll { $0.prefix { $0 != "=" } == key }
      env.append(kv)
    }
    a += try mountArguments(replaced: cdi.mountPaths)
    a += cdi.mounts.flatMap { ["--volume", $0.spec] }
    let cdiDevicePaths = cdi.devicePaths
    for (i, d) in config.devices.enumerated() where !cdiDevicePaths.contains(d.containerPath.isEmpty ? d.hostPath : d.containerPath) {
      guard d.hostPath.hasPrefix("/") else {
        throw LiftoffError.invalidArgument("config.devices[\(i)].host_path \"\(d.hostPath)\" is not an absolute path")
      }
      let permissions = d.permissions.isEmpty ? "rwm" : d.permissions
      guard !d.containerPath.contains(":"), !d.hostPath.contains(":"), permissions.allSatisfy({ "rwm".contains($0) }) else {
        throw LiftoffError.invalidArgument("config.devices[\(i)]: paths must not hold ':' and permissions must be a subset of rwm")
      }
      a += ["--device", "\(d.hostPath):\(d.containerPath.isEmpty ? d.hostPath : d.containerPath):\(permissions)"]
    }
    a += cdi.devices.flatMap { ["--device", $0.spec] }
    if !cdi.groups.isEmpty { a += ["--supplementary-groups", cdi.groups.map(String.init).joined(separator: ",")] }
    a += cdi.hooks.flatMap { ["--hook", "\($0.stage.rawValue)=\($0.jsonWithoutStage.serialized())"] }
    // A pty held by stage1, stdin kept open for Attach (stdin_once: closed after the first writer).
    if config.tty {
      a.append("--tty")
      if !config.envs.contains(where: { $0.key == "TERM" }) { env.append("TERM=xterm") }
    }
    if let signal = try Self.signalNumber(config.stopSignal) { a += ["--stop-signal", String(signal)] }
    if config.stdin { a.append(config.stdinOnce ? "--stdin-once" : "--stdin") }
    let log = logPath
    if !log.isEmpty { a += ["--log-path", log] }
    a += sysctlArguments(request.sandboxConfig.linux.sysctls)
    if config.hasLinux {
      a += try securityArguments(config.linux.securityContext, present: config.linux.hasSecurityContext)
      a += try resourceArguments(config.linux.resources)
    } else {
      a += try securityArguments(Runtime_V1_LinuxContainerSecurityContext(), present: false)
    }
    for key in config.annotations.keys where key.hasPrefix(CRIKeys.prefix) {
      throw LiftoffError.invalidArgument("config.annotations: key \"\(key)\" uses the reserved prefix \(CRIKeys.prefix)")
    }
    let meta: [(String, String)] = [
      (CRIKeys.kind, CRIKeys.containerKind), (CRIKeys.name, config.metadata.name),
      (CRIKeys.attempt, String(config.metadata.attempt)), (CRIKeys.image, imageName), (CRIKeys.imageRef, imageRef),
      (CRIKeys.logPath, log),
    ]
    for (k, v) in meta + config.annotations.sorted(by: { $0.key < $1.key }).map({ ($0.key, $0.value) }) {
      a += ["--annotation", "\(k)=\(v)"]
    }
    for (k, v) in config.labels.sorted(by: { $0.key < $1.key }) {
      guard !k.isEmpty else { throw LiftoffError.invalidArgument("config.labels: empty key") }
      a += ["--label", "\(k)=\(v)"]
    }
    if !env.isEmpty { a += ["--set-env-file", "-"] }
    if command.count > 1 || !config.args.isEmpty || !command.isEmpty {
      a += ["--"] + command.dropFirst() + config.args
    }
    return (a, Array(env.map { $0 + "\0" }.joined().utf8))
  }

  static let signalNames = [
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL", "PIPE", "POLL", "PROF",
    "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2",
    "VTALRM", "WINCH", "XCPU", "XFSZ",
  ]

  /// The CRI `Signal` as a Linux signal number; nil for RUNTIME_DEFAULT (the image's StopSignal, else
  /// SIGTERM). Values 1–34 are names in the enum's order; from 35 (SIGRTMIN) on, the number is value − 1.
  static func signalNumber(_ s: Runtime_V1_Signal) throws -> Int32? {
    let v = s.rawValue
    if v == 0 { return nil }
    if v >= 35 && v <= 65 { return Int32(v - 1) }
    guard v >= 1 && v <= 34, let n = ProcessControl.signalNumber(signalNames[v - 1]) else {
      throw LiftoffError.invalidArgument("config.stop_signal \(v) is not a signal")
    }
    return n
  }

  /// An image volume (KEP-4639) as `app add --mount image=ID,target=CTR,name=NAME[,subpath=DIR]`. As in
  /// containerd: no host_path, and readonly (kubelet always sets it); the sub path is relative and is
  /// checked by `app add` to be a directory of the image that does not lead out of it.
  func imageMountSpec(_ m: Runtime_V1_Mount, index i: Int) throws -> String {
    let field = "config.mounts[\(i)]"
    guard let id = volumeImages[i] else { throw LiftoffError(.internal, "\(field).image \(m.image.image) was not resolved") }
    guard m.hostPath.isEmpty else { throw LiftoffError.invalidArgument("\(field): host_path must be empty for an image mount") }
    guard m.readonly else { throw LiftoffError.invalidArgument("\(field): an image mount must be readonly") }
    guard !m.containerPath.contains(","), !m.image.image.contains(",") else {
      throw LiftoffError.invalidArgument("\(field): container_path and image must not contain ',' for an image mount")
    }
    guard !m.imageSubPath.hasPrefix("/"), !m.imageSubPath.contains("\0") else {
      throw LiftoffError.invalidArgument("\(field).image_sub_path \"\(m.imageSubPath)\" must be a relative path")
    }
    if !m.uidMappings.isEmpty || !m.gidMappings.isEmpty || sandbox.manifest.userNamespace != nil {
      throw LiftoffError(.unimplemented, "\(field).image: image volumes in a pod with a user namespace are not supported yet")
    }
    var spec = "image=\(id),target=\(m.containerPath),name=\(m.image.image)"
    if !m.imageSubPath.isEmpty { spec += ",subpath=\(m.imageSubPath)" }
    return spec
  }

  /// Bind mounts (`--volume HOST:CTR[:ro][:PROPAGATION]`). A missing host path is created as a
  /// directory, as kubelet expects of containerd and CRI-O.
  /// A CDI mount at the same container path replaces the CRI's (`replaced`).
  func mountArguments(replaced: Set<String> = []) throws -> [String] {
    var a: [String] = []
    for (i, m) in config.mounts.enumerated() where !replaced.contains(m.containerPath) {
      let field = "config.mounts[\(i)]"
      guard m.containerPath.hasPrefix("/") else {
        throw LiftoffError.invalidArgument("\(field).container_path \"\(m.containerPath)\" is not an absolute path")
      }
      if m.hasImage {
        a += ["--mount", try imageMountSpec(m, index: i)]
        continue
      }
      guard m.hostPath.hasPrefix("/") else {
        throw LiftoffError.invalidArgument("\(field).host_path \"\(m.hostPath)\" is not an absolute path")
      }
      for (name, p) in [("host_path", m.hostPath), ("container_path", m.containerPath)] where p.contains(":") {
        throw LiftoffError.invalidArgument("\(field).\(name) \"\(p)\" contains ':', which liftoff cannot mount yet")
      }
      let idmap = try CRIUserNamespace.volumeOptions(m, field: field)
      if m.recursiveReadOnly {
        // As containerd: only for a read-only mount with private propagation, and only where the kernel can.
        guard m.readonly else { throw LiftoffError.invalidArgument("\(field).recursive_read_only needs readonly") }
        guard m.propagation == .propagationPrivate else {
          throw LiftoffError.invalidArgument("\(field).recursive_read_only needs propagation PROPAGATION_PRIVATE")
        }
        guard Mounts.hasMountSetattr else {
          throw LiftoffError(.failedPrecondition, "\(field).recursive_read_only: this kernel has no mount_setattr(2) (Linux 5.12+)")
        }
      }
      if !FileManager.default.fileExists(atPath: m.hostPath) {
        do {
          try FileManager.default.createDirectory(atPath: m.hostPath, withIntermediateDirectories: true)
        } catch {
          throw LiftoffError.invalidArgument("\(field).host_path \(m.hostPath) does not exist and cannot be created: \(error.localizedDescription)")
        }
      }
      var spec = "\(m.hostPath):\(m.containerPath)"
      if m.recursiveReadOnly { spec += ":rro" } else if m.readonly { spec += ":ro" }
      switch m.propagation {
      case .propagationPrivate: spec += ":rprivate"
      case .propagationHostToContainer: spec += ":rslave"
      case .propagationBidirectional: spec += ":rshared"
      case .UNRECOGNIZED(let n): throw LiftoffError.invalidArgument("\(field).propagation \(n) is unknown")
      }
      a += ["--volume", spec + idmap]
    }
    return a
  }
}
