// The escape suite through the CRI: hostile pod specs and images, sent over the real socket as kubelet
// would, each aimed at a known way out of a container (the CVE classes of runc and containerd named
// on each test), and each checking that the host is untouched. SECURITY.md lists them. Every test here
// failed on the runtime before the fix it guards (see the commit that added it).
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffCore
import LiftoffOS
import LiftoffTestSupport
import Testing

/// A secret on the host that no container may read or create files beside: a fresh directory under
/// /tmp holding `secret` (mode 0600). Hostile symlinks point into it.
final class HostSecret: @unchecked Sendable {
  let dir: String
  let file: String
  let text: String

  init() throws {
    let tag = Random.hex(bytes: 5)
    dir = "/tmp/liftoff-escape-\(tag)"
    file = dir + "/secret"
    text = "liftoff-host-secret-\(tag)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try text.write(toFile: file, atomically: true, encoding: .utf8)
    chmod(file, 0o600)
  }

  /// `../` enough times to climb from any directory to / (for a cwd that escaped the root).
  var climb: String { String(repeating: "../", count: 24) + String(file.dropFirst()) }

  func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

/// The repository's root (for hack/ scripts).
let repositoryRoot: String = {
  var url = URL(fileURLWithPath: #filePath)
  for _ in 0..<3 { url.deleteLastPathComponent() }
  return url.path
}()

/// Builds the escape suite's hostile images (hack/build-hostile-images.py, symlinks aimed at
/// `target`) and pushes them to the test registry: `registry/liftoff-test/hostile-NAME-<tag>:latest`.
func pushHostileImages(registry: String, target: String, tag: String) throws -> [String: String] {
  let out = "/tmp/liftoff-hostile-images-\(tag)"
  defer { try? FileManager.default.removeItem(atPath: out) }
  _ = try runTool(["/usr/bin/python3", repositoryRoot + "/hack/build-hostile-images.py", out], env: ["HOSTILE_TARGET": target])
  var refs: [String: String] = [:]
  for name in ["hostile-workdir", "hostile-symlinks"] {
    let ref = "\(registry)/liftoff-test/\(name)-\(tag):latest"
    _ = try runTool(["/usr/bin/python3", repositoryRoot + "/hack/push-image.py", "\(out)/\(name)", ref])
    refs[name] = ref
  }
  return refs
}

/// Runs a tool to completion; its stdout; throws with its stderr when it fails.
@discardableResult
func runTool(_ argv: [String], env: [String: String] = [:]) throws -> String {
  let (status, out, err) = try runToolStatus(argv, env: env)
  guard status == 0 else { throw LiftoffError(.internal, "\(argv.joined(separator: " ")): \(err)") }
  return out
}

/// Runs argv[0] with the rest as arguments: exit status, stdout, stderr.
func runToolStatus(_ argv: [String], env: [String: String] = [:]) throws -> (Int32, String, String) {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: argv[0])
  p.arguments = Array(argv.dropFirst())
  p.environment = ProcessInfo.processInfo.environment.merging(env) { $1 }
  let out = Pipe(), err = Pipe()
  p.standardOutput = out
  p.standardError = err
  try p.run()
  let o = out.fileHandleForReading.readDataToEndOfFile()
  let e = err.fileHandleForReading.readDataToEndOfFile()
  p.waitUntilExit()
  return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A container config running `script` with busybox's sh, logging to `name.log`.
func shellContainer(_ name: String, image: String, _ script: String) -> Runtime_V1_ContainerConfig {
  var c = Runtime_V1_ContainerConfig()
  c.metadata.name = name
  c.image.image = image
  c.command = ["/bin/sh", "-c", script]
  c.logPath = name + ".log"
  return c
}

/// Waits until the container has exited (up to 20 s) and returns its CRI log's text.
func exitedLog(_ runtime: RuntimeClient, _ id: String, logDir: String, name: String) async throws -> String {
  _ = try await eventually(20) {
    var req = Runtime_V1_ContainerStatusRequest()
    req.containerID = id
    return try await runtime.containerStatus(req).status.state == .containerExited
  }
  return (try? String(contentsOfFile: "\(logDir)/\(name).log", encoding: .utf8)) ?? ""
}

@Suite(.serialized) struct EscapeTests {
  /// A sandbox with the given namespace options and log directory; its ID.
  func sandbox(
    _ runtime: RuntimeClient, _ name: String, logDir: String, handler: String = "",
    configure: (inout Runtime_V1_PodSandboxConfig) -> Void = { _ in }
  ) async throws -> (String, Runtime_V1_PodSandboxConfig) {
    var run = Runtime_V1_RunPodSandboxRequest()
    run.config = sandboxConfig(name)
    run.config.logDirectory = logDir
    run.runtimeHandler = handler
    configure(&run.config)
    return (try await runtime.runPodSandbox(run).podSandboxID, run.config)
  }

  func create(_ runtime: RuntimeClient, _ sandboxID: String, _ sandboxConfig: Runtime_V1_PodSandboxConfig, _ c: Runtime_V1_ContainerConfig)
    async throws -> String
  {
    var create = Runtime_V1_CreateContainerRequest()
    create.podSandboxID = sandboxID
    create.sandboxConfig = sandboxConfig
    create.config = c
    let id = try await runtime.createContainer(create).containerID
    var start = Runtime_V1_StartContainerRequest()
    start.containerID = id
    _ = try await runtime.startContainer(start)
    return id
  }

  func pull(_ images: ImageClient, _ image: String) async throws {
    var pull = Runtime_V1_PullImageRequest()
    pull.image.image = image
    _ = try await images.pullImage(pull)
  }

  // runc CVE-2024-21626: a working directory through a descriptor stage1 leaked into the app child
  // (the pod directory's, among others) put the container's cwd outside its root.
  @Test(.needsRegistry) func workingDirectoryThroughALeakedDescriptorIsRefused() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let secret = try HostSecret()
    defer { secret.remove() }
    let server = try CRITestServer()
    defer { server.stop() }
    let logDir = server.root + "/logs"
    let hostile = try pushHostileImages(registry: registry, target: secret.dir, tag: Random.hex(bytes: 4))
    try await server.withClients { runtime, images in
      try await pull(images, image)
      try await pull(images, hostile["hostile-workdir"]!)
      let (sandboxID, config) = try await sandbox(runtime, "leak", logDir: logDir)
      for fd in 3...8 {
        var c = shellContainer("fd\(fd)", image: image, "cat \(secret.climb); ls /proc/self/fd")
        c.workingDir = "/proc/self/fd/\(fd)"
        do {
          let id = try await create(runtime, sandboxID, config, c)
          let log = try await exitedLog(runtime, id, logDir: logDir, name: "fd\(fd)")
          #expect(!log.contains(secret.text), "working_dir /proc/self/fd/\(fd) read the host's file: \(log)")
          Issue.record("a working directory under /proc was accepted (fd \(fd))")
        } catch let e as RPCError {
          #expect(e.code == .invalidArgument && e.message.contains("/proc"), "\(e)")
        }
      }
      // The same from the image's WorkingDir.
      let c = shellContainer("imagewd", image: hostile["hostile-workdir"]!, "cat \(secret.climb)")
      do {
        let id = try await create(runtime, sandboxID, config, c)
        let log = try await exitedLog(runtime, id, logDir: logDir, name: "imagewd")
        #expect(!log.contains(secret.text), "the image's WorkingDir read the host's file: \(log)")
        Issue.record("an image WorkingDir under /proc was accepted")
      } catch let e as RPCError {
        #expect(e.code == .invalidArgument && e.message.contains("/proc"), "\(e)")
      }
      // Nothing of stage1's reaches an app: only its stdio (and ls's own directory descriptor).
      let id = try await create(runtime, sandboxID, config, shellContainer("fds", image: image, "ls /proc/self/fd | tr '\\n' ' '"))
      let log = try await exitedLog(runtime, id, logDir: logDir, name: "fds")
      #expect(log.contains("0 1 2 3 "), "\(log)")
      #expect(!log.contains(" 4 "), "a descriptor beyond stdio reached the app: \(log)")
    }
  }

  // A pod in the host's network namespace got the host's /sys with its writable submounts: it could
  // create cgroups in the host's tree (and so leave its device cgroup) or kill the kubelet's group.
  @Test(.needsRegistry) func hostNetworkPodGetsAReadOnlyCgroupViewOfItsOwnGroup() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    let logDir = server.root + "/logs"
    let probe = "liftoff-escape-\(Random.hex(bytes: 4))"
    let hostPaths = ["/sys/fs/cgroup/pids/\(probe)", "/sys/fs/cgroup/memory/\(probe)", "/sys/fs/cgroup/unified/\(probe)"]
    defer { for p in hostPaths { rmdir(p) } }
    try await server.withClients { runtime, images in
      try await pull(images, image)
      let (sandboxID, config) = try await sandbox(runtime, "hostnet", logDir: logDir) {
        $0.linux.securityContext.namespaceOptions.network = .node
      }
      let script = """
        for c in pids memory unified; do mkdir /sys/fs/cgroup/$c/\(probe) 2>/dev/null && echo MADE-$c; done
        mkdir /sys/kernel/\(probe) 2>/dev/null && echo MADE-sys
        [ -e /sys/fs/cgroup/memory/liftoff ] && echo HOST-TREE
        [ -e /sys/fs/cgroup/memory/memory.limit_in_bytes ] && echo OWN-GROUP
        echo done
        """
      let id = try await create(runtime, sandboxID, config, shellContainer("sys", image: image, script))
      let log = try await exitedLog(runtime, id, logDir: logDir, name: "sys")
      #expect(log.contains("done"), "\(log)")
      #expect(!log.contains("MADE"), "a host-network pod created a cgroup or sysfs entry: \(log)")
      #expect(!log.contains("HOST-TREE"), "a host-network pod sees the host's cgroup tree: \(log)")
      if Cgroups.host().version == .v1 { #expect(log.contains("OWN-GROUP"), "no view of its own memory group: \(log)") }
    }
    for p in hostPaths { #expect(!FileManager.default.fileExists(atPath: p), "\(p) was created on the host") }
  }

  // The pod's PID 1 (shared PID namespace) was forked from stage1 with its host root, all
  // capabilities, dumpable: a container with SYS_PTRACE read the host through /proc/1/root.
  @Test(.needsRegistry) func sharedPIDNamespaceInitHoldsNothingOfTheHost() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let secret = try HostSecret()
    defer { secret.remove() }
    let server = try CRITestServer()
    defer { server.stop() }
    let logDir = server.root + "/logs"
    try await server.withClients { runtime, images in
      try await pull(images, image)
      let (sandboxID, config) = try await sandbox(runtime, "sharedpid", logDir: logDir) {
        $0.linux.securityContext.namespaceOptions.pid = .pod
      }
      var c = shellContainer(
        "ptrace", image: image,
        "cat /proc/1/root\(secret.file) 2>/dev/null; echo; echo \"ROOT:$(ls -A /proc/1/root/ | tr '\\n' ' ')\"; grep -E '^Cap(Eff|Prm|Bnd)' /proc/1/status; ls /proc/1/fd | wc -l; echo done")
      c.linux.securityContext.capabilities.addCapabilities = ["SYS_PTRACE"]
      c.linux.securityContext.namespaceOptions.pid = .pod
      let id = try await create(runtime, sandboxID, config, c)
      let log = try await exitedLog(runtime, id, logDir: logDir, name: "ptrace")
      #expect(log.contains("done"), "\(log)")
      #expect(!log.contains(secret.text), "PID 1 of the pod showed the host's files: \(log)")
      #expect(log.contains("ROOT:\n"), "PID 1's root is not empty: \(log)")
      for field in ["CapEff", "CapPrm", "CapBnd"] {
        #expect(log.contains("\(field):\t0000000000000000"), "PID 1 holds capabilities (\(field)): \(log)")
      }
    }
  }

  // runc CVE-2025-31133: masks were bound from `rootfs + "/dev/null"` after volumes: a volume at /dev
  // holding `null -> <host file>` put that host file, writable, at /proc/kcore.
  @Test(.needsRegistry) func maskSourceCannotBeRedirectedByAVolume() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let secret = try HostSecret()
    defer { secret.remove() }
    let devDir = secret.dir + "/dev"
    try FileManager.default.createDirectory(atPath: devDir, withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(atPath: devDir + "/null", withDestinationPath: secret.file)
    let server = try CRITestServer()
    defer { server.stop() }
    let logDir = server.root + "/logs"
    try await server.withClients { runtime, images in
      try await pull(images, image)
      let (sandboxID, config) = try await sandbox(runtime, "mask", logDir: logDir)
      // (No redirection to /dev/null here: the volume's /dev has none.) /proc/kcore is missing on some
      // kernels (this VM's): every masked file there is tried, and written to.
      var c = shellContainer("mask", image: image, "cat /proc/kcore /proc/keys /proc/timer_list; echo pwned >> /proc/keys; echo; echo done")
      var m = Runtime_V1_Mount()
      m.containerPath = "/dev"
      m.hostPath = devDir
      c.mounts = [m]
      do {
        let id = try await create(runtime, sandboxID, config, c)
        let log = try await exitedLog(runtime, id, logDir: logDir, name: "mask")
        #expect(log.contains("done"), "\(log)")
        #expect(!log.contains(secret.text), "a masked path showed the host's file: \(log)")
      } catch let e as RPCError {
        // Refusing the pod is as good as masking with the real null device.
        #expect(e.code == .invalidArgument || e.code == .unknown, "\(e)")
      }
    }
    #expect((try? String(contentsOfFile: secret.file, encoding: .utf8)) == secret.text, "the host's file was written through a mask")
  }

  // runc CVE-2021-30465 class: mount targets were joined onto the rootfs as strings and resolved by
  // the host: a symlink in a volume (or in the image) sent a mount point, and the empty file made for
  // it, to a host path.
  @Test(.needsRegistry) func mountTargetsAreResolvedInsideTheRootfs() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let secret = try HostSecret()
    defer { secret.remove() }
    let target = secret.dir + "/target"
    let volumeDir = secret.dir + "/volume"
    let file = secret.dir + "/x.conf"
    for d in [target, volumeDir] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true) }
    try FileManager.default.createSymbolicLink(atPath: volumeDir + "/link", withDestinationPath: target)
    try "from-the-volume\n".write(toFile: file, atomically: true, encoding: .utf8)
    let server = try CRITestServer()
    defer { server.stop() }
    let logDir = server.root + "/logs"
    let hostile = try pushHostileImages(registry: registry, target: target, tag: Random.hex(bytes: 4))
    try await server.withClients { runtime, images in
      try await pull(images, image)
      try await pull(images, hostile["hostile-symlinks"]!)
      let (sandboxID, config) = try await sandbox(runtime, "targets", logDir: logDir)
      // Through a symlink in a volume: /data/link -> <host target dir>.
      var c = shellContainer("viavolume", image: image, "cat /data/link/x.conf; echo done")
      var a = Runtime_V1_Mount()
      a.containerPath = "/data"
      a.hostPath = volumeDir
      var b = Runtime_V1_Mount()
      b.containerPath = "/data/link/x.conf"
      b.hostPath = file
      c.mounts = [a, b]
      let id = try await create(runtime, sandboxID, config, c)
      let log = try await exitedLog(runtime, id, logDir: logDir, name: "viavolume")
      #expect(log.contains("from-the-volume"), "\(log)")
      // Through a symlink in the image: /cni -> <host target dir>.
      var d = shellContainer("viaimage", image: hostile["hostile-symlinks"]!, "cat /cni/x.conf; echo done")
      var m = Runtime_V1_Mount()
      m.containerPath = "/cni/x.conf"
      m.hostPath = file
      d.mounts = [m]
      let id2 = try await create(runtime, sandboxID, config, d)
      let log2 = try await exitedLog(runtime, id2, logDir: logDir, name: "viaimage")
      #expect(log2.contains("from-the-volume"), "\(log2)")
    }
    let made = (try? FileManager.default.contentsOfDirectory(atPath: target)) ?? []
    #expect(made.isEmpty, "files were created on the host through a symlink: \(made)")
  }

  // The image's /etc/passwd was read through its symlinks on the host: `/etc -> <host dir>` made a
  // user name resolve from a host file.
  @Test(.needsRegistry) func userNamesAreResolvedInsideTheImage() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let secret = try HostSecret()
    defer { secret.remove() }
    try "hostuser:x:4242:4242::/:/bin/sh\n".write(toFile: secret.dir + "/passwd", atomically: true, encoding: .utf8)
    let server = try CRITestServer()
    defer { server.stop() }
    let logDir = server.root + "/logs"
    let hostile = try pushHostileImages(registry: registry, target: secret.dir, tag: Random.hex(bytes: 4))
    try await server.withClients { runtime, images in
      try await pull(images, hostile["hostile-symlinks"]!)
      let (sandboxID, config) = try await sandbox(runtime, "passwd", logDir: logDir)
      var c = shellContainer("user", image: hostile["hostile-symlinks"]!, "id -u; echo done")
      c.linux.securityContext.runAsUsername = "hostuser"
      await expectRPCError(.invalidArgument, "hostuser") {
        var create = Runtime_V1_CreateContainerRequest()
        create.podSandboxID = sandboxID
        create.sandboxConfig = config
        create.config = c
        _ = try await runtime.createContainer(create)
      }
    }
  }

  // runc CVE-2019-5736: the process that crosses into the container for exec ran the host binary,
  // dumpable: a root process inside could open /proc/PID/exe and later rewrite the binary liftoff-cri
  // runs as root. And the container's environment was the environment of that host-root process.
  @Test(.needsRegistry) func execCrossesFromASealedCopyWithoutTheContainersEnvironment() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    let logDir = server.root + "/logs"
    let marker = "liftoff-exec-\(Random.hex(bytes: 4))"
    try await server.withClients { runtime, images in
      try await pull(images, image)
      let (sandboxID, config) = try await sandbox(runtime, "exec", logDir: logDir)
      var c = shellContainer("app", image: image, "sleep 600")
      var e = Runtime_V1_KeyValue()
      e.key = "APP_SECRET"
      e.value = Data("\(marker)-env".utf8)
      c.envs = [e]
      let id = try await create(runtime, sandboxID, config, c)
      let exec = Task {
        var req = Runtime_V1_ExecSyncRequest()
        req.containerID = id
        req.cmd = ["/bin/sh", "-c", "sleep 3; echo \(marker) $APP_SECRET"]
        req.timeout = 20
        return String(decoding: try await runtime.execSync(req).stdout, as: UTF8.self)
      }
      // The command's shell, on the host's side: its parent is the process that crossed over.
      var crossing: Int32?
      _ = try await eventually(10) {
        crossing = processes().first { $0.cmdline.hasPrefix("/bin/sh -c sleep 3; echo \(marker)") }.map { $0.ppid }
        return crossing != nil
      }
      let pid = try #require(crossing)
      let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
      #expect(exe.hasPrefix("/memfd:"), "exec crossed over running \(exe)")
      let fd = open("/proc/\(pid)/exe", O_RDONLY | O_CLOEXEC)
      #expect(fd >= 0)
      if fd >= 0 {
        let seals = fcntl(fd, 1034 /* F_GET_SEALS */)
        #expect(seals >= 0 && seals & 0x8 /* F_SEAL_WRITE */ != 0, "the crossing process's executable is writable (seals \(seals))")
        close(fd)
      }
      let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))) ?? Data()
      #expect(!String(decoding: environ, as: UTF8.self).contains("\(marker)-env"), "the container's environment is a host process's")
      let out = try await exec.value
      #expect(out.contains("\(marker) \(marker)-env"), "the command did not get its environment: \(out)")
    }
  }

  // exec found the container's process by the PID in state.json: had the app exited and its PID gone
  // to a host process, exec would have joined the host's namespaces and root.
  @Test(.needsRegistry) func execChecksThatThePIDIsStillTheApps() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let secret = try HostSecret()
    defer { secret.remove() }
    let server = try CRITestServer()
    defer { server.stop() }
    let host = Process()
    host.executableURL = URL(fileURLWithPath: "/bin/sleep")
    host.arguments = ["60"]
    try host.run()
    defer {
      host.terminate()
      host.waitUntilExit()
    }
    let logDir = server.root + "/logs"
    try await server.withClients { runtime, images in
      try await pull(images, image)
      let (sandboxID, config) = try await sandbox(runtime, "pidreuse", logDir: logDir)
      let id = try await create(runtime, sandboxID, config, shellContainer("app", image: image, "sleep 600"))
      _ = try await execOutput(runtime, id, "true")
      // The app's PID as a host process would have it after a reuse.
      let statePath = "\(server.dir)/pods/run/\(sandboxID)/apps/\(id)/state.json"
      let text = try String(contentsOfFile: statePath, encoding: .utf8)
      let forged = text.replacingOccurrences(of: #""pid":\s*\d+"#, with: "\"pid\":\(host.processIdentifier)", options: .regularExpression)
      #expect(forged != text)
      try forged.write(toFile: statePath, atomically: true, encoding: .utf8)
      do {
        let out = try await execOutput(runtime, id, "cat \(secret.file)")
        #expect(!out.contains(secret.text), "exec ran in a host process's namespaces: \(out)")
      } catch is RPCError {}
    }
  }

  // `fly` (host namespaces, every capability, no seccomp) through the CRI was a way around Pod Security
  // for any pod that named its RuntimeClass.
  @Test(.needsRegistry) func flyIsForPrivilegedSandboxesAndContainersOnly() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    let logDir = server.root + "/logs"
    try await server.withClients { runtime, images in
      try await pull(images, image)
      await expectRPCError(.invalidArgument, "privileged") {
        _ = try await sandbox(runtime, "fly", logDir: logDir, handler: "fly") {
          $0.linux.securityContext.namespaceOptions.network = .node
          $0.linux.securityContext.namespaceOptions.pid = .node
          $0.linux.securityContext.namespaceOptions.ipc = .node
        }
      }
      let (sandboxID, config) = try await sandbox(runtime, "flypriv", logDir: logDir, handler: "fly") {
        $0.linux.securityContext.namespaceOptions.network = .node
        $0.linux.securityContext.namespaceOptions.pid = .node
        $0.linux.securityContext.namespaceOptions.ipc = .node
        $0.linux.securityContext.privileged = true
      }
      await expectRPCError(.invalidArgument, "privileged") {
        _ = try await create(runtime, sandboxID, config, shellContainer("plain", image: image, "true"))
      }
      var c = shellContainer("priv", image: image, "echo ok")
      c.linux.securityContext.privileged = true
      c.linux.securityContext.namespaceOptions.pid = .node
      c.linux.securityContext.namespaceOptions.ipc = .node
      let id = try await create(runtime, sandboxID, config, c)
      #expect(try await exitedLog(runtime, id, logDir: logDir, name: "priv").contains("ok"))
    }
  }
}

/// Host processes: pid, parent pid and command line (NULs as spaces).
func processes() -> [(pid: Int32, ppid: Int32, cmdline: String)] {
  var out: [(Int32, Int32, String)] = []
  for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
    guard let pid = Int32(name) else { continue }
    guard let cmd = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(name)/cmdline")),
      let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
      let close = stat.lastIndex(of: ")")
    else { continue }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 1, let ppid = Int32(fields[1]) else { continue }
    out.append((pid, ppid, String(decoding: cmd.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)))
  }
  return out
}
