// CreateContainer's request as a `liftoff app add` request: one place that turns a CRI ContainerConfig
// into the executor's AppOptions (security context and resources in their own files). Every field that
// the executor cannot honour yet is refused with INVALID_ARGUMENT or UNIMPLEMENTED naming the field —
// never dropped silently.
//
// Command and args follow Kubernetes: `command` replaces the image's entrypoint (and drops its cmd),
// `args` replace the image's cmd.
import Foundation
import LiftoffCDI
import LiftoffCore
import LiftoffOS
import LiftoffPod

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

  /// The `app add` request: the app as the container asks for it. Its environment travels in the
  /// request on `liftoff`'s stdin, never on a command line (where every local user reads it in
  /// /proc/PID/cmdline).
  func make() throws -> Stage0Request {
    var a = AppOptions(imageName: imageID)
    a.name = containerID
    let command = config.command
    if let first = command.first {
      guard !first.isEmpty else { throw LiftoffError.invalidArgument("config.command[0] is empty") }
      a.exec = first
    }
    if !config.workingDir.isEmpty {
      guard config.workingDir.hasPrefix("/") else {
        throw LiftoffError.invalidArgument("config.working_dir \(config.workingDir) is not an absolute path")
      }
      a.workingDir = config.workingDir
    }
    for (i, kv) in config.envs.enumerated() {
      guard !kv.key.isEmpty, !kv.key.contains("=") else {
        throw LiftoffError.invalidArgument("config.envs[\(i)].key \"\(kv.key)\" is empty or contains '='")
      }
      // `value` is `bytes` in the v0.36 proto (the same wire encoding as the string it was).
      guard !kv.value.contains(0), let value = String(data: kv.value, encoding: .utf8) else {
        throw LiftoffError.invalidArgument("config.envs[\(i)] (\(kv.key)): the value is not UTF-8 text without NUL")
      }
      a.env.append("\(kv.key)=\(value)")
    }
    let cdi = try cdiChanges()
    for kv in cdi.env {
      let key = kv.prefix { $0 != "=" }
      a.env.removeAll { $0.prefix { $0 != "=" } == key }
      a.env.append(kv)
    }
    a.mounts = try mounts(replaced: cdi.mountPaths) + cdi.mounts.map(\.mount)
    let cdiDevicePaths = cdi.devicePaths
    for (i, d) in config.devices.enumerated() where !cdiDevicePaths.contains(d.containerPath.isEmpty ? d.hostPath : d.containerPath) {
      guard d.hostPath.hasPrefix("/") else {
        throw LiftoffError.invalidArgument("config.devices[\(i)].host_path \"\(d.hostPath)\" is not an absolute path")
      }
      let permissions = d.permissions.isEmpty ? "rwm" : d.permissions
      guard permissions.allSatisfy({ "rwm".contains($0) }) else {
        throw LiftoffError.invalidArgument("config.devices[\(i)].permissions \"\(d.permissions)\" must be a subset of rwm")
      }
      a.devices.append(.host(path: d.hostPath, containerPath: d.containerPath.isEmpty ? d.hostPath : d.containerPath, permissions: permissions))
    }
    a.devices += cdi.devices.map { .described($0.device) }
    a.supplementaryGroups += cdi.groups
    a.hooks += cdi.hooks
    // A pty held by stage1, stdin kept open for Attach (stdin_once: closed after the first writer).
    if config.tty {
      a.tty = true
      if !config.envs.contains(where: { $0.key == "TERM" }) { a.env.append("TERM=xterm") }
    }
    if let signal = try Self.signalNumber(config.stopSignal) { a.stopSignal = String(signal) }
    a.stdin = config.stdin
    a.stdinOnce = config.stdin && config.stdinOnce
    let log = logPath
    if !log.isEmpty { a.logPath = log }
    a.sysctls = request.sandboxConfig.linux.sysctls
    if config.hasLinux {
      try security(config.linux.securityContext, present: config.linux.hasSecurityContext, into: &a)
      try resources(config.linux.resources, into: &a)
    } else {
      try security(Runtime_V1_LinuxContainerSecurityContext(), present: false, into: &a)
    }
    for key in config.annotations.keys where key.hasPrefix(CRIKeys.prefix) {
      throw LiftoffError.invalidArgument("config.annotations: key \"\(key)\" uses the reserved prefix \(CRIKeys.prefix)")
    }
    let meta: [(String, String)] = [
      (CRIKeys.kind, CRIKeys.containerKind), (CRIKeys.name, config.metadata.name),
      (CRIKeys.attempt, String(config.metadata.attempt)), (CRIKeys.image, imageName), (CRIKeys.imageRef, imageRef),
      (CRIKeys.logPath, log),
    ]
    a.annotations = config.annotations
    for (k, v) in meta { a.annotations[k] = v }
    for k in config.labels.keys where k.isEmpty { throw LiftoffError.invalidArgument("config.labels: empty key") }
    a.labels = config.labels
    if command.count > 1 || !config.args.isEmpty || !command.isEmpty {
      a.args = Array(command.dropFirst()) + config.args
    }
    return .add(pod: sandbox.id, app: a)
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

  /// An image volume (KEP-4639): the store image `volumeImages[i]`, recorded by the name asked for. As
  /// in containerd: no host_path, and readonly (kubelet always sets it); the sub path is relative and
  /// is checked by `app add` to be a directory of the image that does not lead out of it.
  func imageMount(_ m: Runtime_V1_Mount, index i: Int) throws -> AppMount {
    let field = "config.mounts[\(i)]"
    guard let id = volumeImages[i] else { throw LiftoffError(.internal, "\(field).image \(m.image.image) was not resolved") }
    guard m.hostPath.isEmpty else { throw LiftoffError.invalidArgument("\(field): host_path must be empty for an image mount") }
    guard m.readonly else { throw LiftoffError.invalidArgument("\(field): an image mount must be readonly") }
    guard !m.imageSubPath.hasPrefix("/"), !m.imageSubPath.contains("\0") else {
      throw LiftoffError.invalidArgument("\(field).image_sub_path \"\(m.imageSubPath)\" must be a relative path")
    }
    if !m.uidMappings.isEmpty || !m.gidMappings.isEmpty || sandbox.manifest.userNamespace != nil {
      throw LiftoffError(.unimplemented, "\(field).image: image volumes in a pod with a user namespace are not supported yet")
    }
    var mount = AppMount(destination: m.containerPath, type: "image", source: id, readOnly: true)
    mount.image = AppImage(name: m.image.image, id: id, layerDirs: [])
    if !m.imageSubPath.isEmpty && m.imageSubPath != "." { mount.subPath = m.imageSubPath }
    return mount
  }

  /// Bind mounts and image volumes. A missing host path is created as a directory, as kubelet expects
  /// of containerd and CRI-O. Any path is taken as it is (':' and ',' too): the request is JSON.
  /// A CDI mount at the same container path replaces the CRI's (`replaced`).
  func mounts(replaced: Set<String> = []) throws -> [AppMount] {
    var a: [AppMount] = []
    for (i, m) in config.mounts.enumerated() where !replaced.contains(m.containerPath) {
      let field = "config.mounts[\(i)]"
      guard m.containerPath.hasPrefix("/") else {
        throw LiftoffError.invalidArgument("\(field).container_path \"\(m.containerPath)\" is not an absolute path")
      }
      if m.hasImage {
        a.append(try imageMount(m, index: i))
        continue
      }
      guard m.hostPath.hasPrefix("/") else {
        throw LiftoffError.invalidArgument("\(field).host_path \"\(m.hostPath)\" is not an absolute path")
      }
      let idmap = try CRIUserNamespace.volumeMappings(m, field: field)
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
      var mount = AppMount(destination: m.containerPath, source: m.hostPath, readOnly: m.readonly || m.recursiveReadOnly, recursiveReadOnly: m.recursiveReadOnly)
      switch m.propagation {
      case .propagationPrivate: mount.propagation = .rprivate
      case .propagationHostToContainer: mount.propagation = .rslave
      case .propagationBidirectional: mount.propagation = .rshared
      case .UNRECOGNIZED(let n): throw LiftoffError.invalidArgument("\(field).propagation \(n) is unknown")
      }
      (mount.uidMappings, mount.gidMappings) = idmap
      a.append(mount)
    }
    return a
  }
}
