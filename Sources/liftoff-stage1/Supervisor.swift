// The pod supervisor loop: namespaces for the pod, apps started and reaped, the control socket,
// graceful stop (stop signal, then SIGKILL at the deadline), exit status of the pod.
import Glibc
import LiftoffCore
import LiftoffOS

final class Supervisor {
  let podDir: String
  let lock: FileLock
  var manifest: PodManifest
  let cgroups: Cgroups

  /// Apps with a live process, by pid.
  var running: [Int32: String] = [:]
  /// Per-app state as last written to disk.
  var states: [String: AppState] = [:]
  /// Set when a stop is under way: the monotonic time to SIGKILL what is left.
  var killDeadline: Double?
  /// Per-app stops under way (mutable pods): app name → monotonic time to SIGKILL it.
  var appKillDeadlines: [String: Double] = [:]
  /// Apps whose output goes to a CRI log file, by name.
  var logs: [String: AppLog] = [:]
  /// Attach sockets of the apps whose output passes through stage1, by name.
  var attaches: [String: AppAttach] = [:]
  /// The apps' sd_notify sockets, relayed to systemd (`liftoff run` in a Type=notify unit); nil: none.
  var notifyRelay: NotifyRelay?
  var stopRequested = false
  /// The pod's exit status: the first failing app's.
  var exitStatus: Int32 = 0

  /// PID 1 of the pod's shared PID namespace (`pidNamespace: pod`), a reaper forked by stage1.
  var podInit: Int32?
  /// The write end of the pipe that tells the pod's PID 1 stage1 is alive (closed on exit).
  var podInitAlive: Int32 = -1

  var signalFD: Int32 = -1
  /// The host's mount namespace, kept for rshared volumes (AppLauncher.bindVolume); -1: none.
  var hostMountNamespaceFD: Int32 = -1
  /// The pod's user namespace (`userNamespace` in pod.json), which every app joins; -1: none.
  var userNamespaceFD: Int32 = -1
  var controlFD: Int32 = -1
  /// `--start-fd` / `--alive-fd` (app sandbox) until stage0 says the network is attached; -1 after.
  var startFD: Int32
  var aliveFD: Int32

  init(podDir: String, lockFD: Int32, startFD: Int32 = -1, aliveFD: Int32 = -1) throws {
    self.podDir = podDir
    self.startFD = startFD
    self.aliveFD = aliveFD
    for fd in [startFD, aliveFD] where fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
    self.lock = FileLock(adopting: lockFD, path: podDir)
    // The apps must not inherit the pod lock. Other inherited descriptors stay: `liftoff run`'s
    // caller may watch one to learn that the pod ended (Foundation's Process does); a detached
    // stage1 gets none (AppManager.spawnDetached).
    try lock.setInheritable(false)
    manifest = try Self.readManifest(podDir: podDir)
    cgroups = Cgroups.host().of(manifest)
  }

  func run() -> Int32 {
    ProcessControl.setName("liftoff-stage1")
    // A write to an app's pipe after it died (the `joined` byte of an app that failed early) must
    // fail with EPIPE, not kill the pod's supervisor. Apps get default handlers back before execve.
    _ = Glibc.signal(SIGPIPE, SIG_IGN)
    do {
      try FileSystem.makeDirectories("\(podDir)/stage1")
      try FileSystem.writeAtomically("\(podDir)/stage1/pid", "\(getpid())\n")
      try FileSystem.writeAtomically("\(podDir)/\(Stage1Protocol.levelFile)", "\(Stage1Protocol.level)\n")
      if let slice = manifest.systemdSlice {
        try enterScope(slice: slice)
      } else if manifest.mutable && Cgroups.systemdIsRunning {
        try enterOwnScope()
      }
      try setUpPodNamespaces()
      try waitForStart()  // fly pods: nothing to set up before it
      // Orphans of fly apps (host PID namespace) come back to us to be reaped.
      ProcessControl.setChildSubreaper()
      signalFD = try ProcessControl.signalFD([SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT])
      controlFD = try UnixSocket.listen(dir: "\(podDir)/stage1", name: "control.sock")
      if let address = manifest.notifySocket {
        notifyRelay = try NotifyRelay(address: address, podDir: podDir, apps: manifest.apps.map(\.name))
      }
    } catch {
      Stage1Log.error("pod \(manifest.id): \(error)")
      cleanUp()
      return 1
    }
    // Any child we fork must not keep our blocked mask; AppLauncher resets it before exec.
    if !manifest.mutable {
      for app in manifest.apps {
        start(app)
        if stopRequested { break }
      }
    }
    loop()
    cleanUp()
    return exitStatus
  }

  /// The systemd cgroup driver: stage1 becomes the transient scope `liftoff-<id>.scope` in the pod's
  /// slice, delegated to us (its apps' groups and their limits below it are liftoff's to write), and
  /// moves on into the scope's leaf `_stage1` so that the scope can pass controllers on. The scope
  /// stops by itself when stage1 and the apps are gone, and systemd removes its cgroup then. A slice
  /// systemd refuses fails the pod here, before anything else exists.
  func enterScope(slice: String) throws {
    let unit = Cgroups.scopeUnit(pod: manifest.id)
    try SystemdUnits.startScope(
      unit, slice: slice, pids: [UInt32(getpid())], description: "Liftoff pod \(manifest.id)", delegate: true,
      limits: SystemdUnits.limitProperties(manifest.resources, atStart: true))
    try cgroups.enterSupervisorGroup(pod: manifest.id, pid: getpid())
  }

  /// The cgroupfs driver where systemd is PID 1 (`app sandbox`): stage1 becomes the transient scope
  /// `liftoff-<id>.scope` (in systemd's default slice, not delegated: the pod's groups are the
  /// cgroupfs paths), so that it is no left-over process in the cgroup of whatever ran `liftoff`
  /// (liftoff-cri's service) and stopping or restarting that unit never touches it, as rkt ran its
  /// pods. One D-Bus call, where `systemd-run --scope` was a process of its own before.
  func enterOwnScope() throws {
    try SystemdUnits.startScope(
      Cgroups.scopeUnit(pod: manifest.id), slice: nil, pids: [UInt32(getpid())],
      description: "Liftoff pod \(manifest.id)", delegate: false)
  }

  // MARK: pod namespaces

  /// `app sandbox`: blocks until stage0 has attached the pod's network (one byte on the start socket).
  /// EOF means stage0 failed or died first: an error, so that stage1 cleans up and exits, and its
  /// exit closes the alive pipe stage0 waits on before it removes the pod.
  func waitForStart() throws {
    guard startFD >= 0 else { return }
    var byte: UInt8 = 0
    var n: Int
    repeat { n = read(startFD, &byte, 1) } while n < 0 && errno == EINTR
    close(startFD)
    startFD = -1
    guard n == 1 else { throw LiftoffError(.aborted, "stage0 gave up before the pod's network was attached") }
    close(aliveFD)
    aliveFD = -1
  }

  func setUpPodNamespaces() throws {
    guard manifest.flavor == .default else { return }
    var kinds: [Namespace] = [.mount, .uts, .ipc]
    if manifest.hostIPC { kinds = [.mount, .uts] }
    hostMountNamespaceFD = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC)
    try Namespace.unshare(kinds)
    if let u = manifest.userNamespace { userNamespaceFD = try UserNamespace.create(u) }
    // Our mounts must not leak to the host; host mounts still reach us (rslave).
    try Mounts.setPropagation("/", .rslave)
    if !manifest.hostname.isEmpty {
      guard sethostname(manifest.hostname, manifest.hostname.utf8.count) == 0 else {
        throw SystemCallError("sethostname \(manifest.hostname)", errno: errno)
      }
    }
    if manifest.sharedPID { try startPodInit() }
    // Pod-level limits (app update POD without --app) bound every app: the pod's group first.
    if !manifest.resources.isEmpty { try cgroups.createPod(manifest.id, resources: manifest.resources) }
    try waitForStart()  // the network namespace is complete only from here on
    switch manifest.network.mode {
    case .host: break
    case .none, .netns:
      guard let path = manifest.network.netnsPath else {
        throw LiftoffError.invalidArgument("pod \(manifest.id): network mode \(manifest.network.mode.rawValue) without netnsPath")
      }
      try Namespace.join(.net, path: path)
      try Namespace.loopbackUp()
    }
  }

  /// The pod's shared PID namespace: a child in a new PID namespace that does nothing but reap (the
  /// apps' orphans come to it as PID 1), and stage1's pid_for_children set to it, so that every app
  /// forked afterwards is in it. It dies with stage1 (parent-death signal) and the namespace with it.
  func startPodInit() throws {
    // Its parent is outside its namespace (getppid() is 0 there): it learns that stage1 is gone
    // from the parent-death signal, or, if stage1 died before that was armed, from this pipe.
    let alive = try ProcessControl.pipe()
    let pid = try ProcessControl.fork(namespaces: [.pid])
    if pid == 0 {
      // Every container of the pod sees this process as PID 1: it keeps nothing of the host's — an
      // empty root of its own, no capability, not dumpable — so that a container allowed to ptrace
      // finds no way out through /proc/1/{root,cwd,fd}.
      ProcessControl.setDumpable(false)
      ProcessControl.setParentDeathSignal(SIGKILL)
      close(alive.write)
      ProcessControl.closeDescriptors(except: alive.read)
      ProcessControl.setName("pod-init")
      // It only waits: give back the code and freed heap it inherited from stage1 (while /proc is
      // still there to read its mappings from).
      MemoryTrim.dropCleanFileMappings()
      MemoryTrim.dropExecutablePages()
      do {
        try Self.confinePodInit(emptyDirectory: "\(podDir)/stage1")
      } catch {
        Stage1Log.error("pod \(manifest.id): pod-init: \(error)")
        _exit(1)
      }
      while true {
        var status: Int32 = 0
        while waitpid(-1, &status, WNOHANG) > 0 {}
        var p = pollfd(fd: alive.read, events: Int16(POLLIN), revents: 0)
        if poll(&p, 1, 1000) > 0 { _exit(0) }
      }
    }
    close(alive.read)
    podInitAlive = alive.write
    podInit = pid
    try Namespace.join(.pid, path: "/proc/\(pid)/ns/pid")
  }

  /// The pod's PID 1 leaves stage1's world: a mount namespace of its own whose root is an empty
  /// read-only tmpfs (attached on `emptyDirectory`, which exists, then pivoted into; the old root is
  /// detached), every capability dropped from all sets, no_new_privs.
  static func confinePodInit(emptyDirectory: String) throws {
    try Namespace.unshare([.mount])
    try Mounts.setPropagation("/", .rprivate)
    let empty = try Rootfs.newFilesystem("tmpfs", source: "pod-init", options: "mode=0555,size=4k", attributes: [.readOnly, .noSUID, .noDev, .noExec])
    let dir = try Rootfs(path: emptyDirectory)
    try Rootfs.attach(empty, onto: dir.fd, what: emptyDirectory)
    try Mounts.pivotRoot(try Rootfs(path: emptyDirectory).fd, path: emptyDirectory)
    try Capabilities.limitBoundingSet(to: 0)
    try Capabilities.apply(0)
    try ProcessControl.setNoNewPrivileges()
  }

  // MARK: apps

  func appDir(_ name: String) -> String { "\(podDir)/apps/\(name)" }

  /// pod.json without the apps `app rm` has taken away (PodManifest.withoutRemovedApps).
  static func readManifest(podDir: String) throws -> PodManifest {
    try PodManifest.parse(FileSystem.readString("\(podDir)/pod.json")).withoutRemovedApps(podDir: podDir) { FileSystem.exists($0) }
  }

  func writeState(_ name: String, _ state: AppState) {
    states[name] = state
    do {
      try FileSystem.writeAtomically("\(appDir(name))/state.json", state.json.serialized() + "\n")
    } catch {
      Stage1Log.error("app \(name): writing state: \(error)")
    }
    notifyChanged()
  }

  /// Tells liftoff-cri (when it listens on the data directory's `events.sock`) that this pod changed on
  /// disk, so that its index reads it again at once — an app's exit reaches kubelet without a poll.
  /// Nothing waits for it: without a listener it is a no-op.
  func notifyChanged() {
    let dataDir = FileSystem.parent(of: FileSystem.parent(of: FileSystem.parent(of: podDir)))
    UnixSocket.sendDatagram(dir: dataDir, name: "events.sock", Array(manifest.id.utf8))
  }

  func start(_ app: AppManifest) {
    if states[app.name]?.isRunning == true { return }
    var launcher = AppLauncher(pod: manifest, app: app, appDir: appDir(app.name), cgroups: cgroups)
    launcher.userns = userNamespaceFD
    launcher.hostMountNamespace = hostMountNamespaceFD
    if let target = app.security.pidTarget {
      launcher.targetPID = running.first { $0.value == target }?.key
    }
    switch launcher.launch() {
    case .started(let pid, let output, let input, let pty):
      running[pid] = app.name
      if launcher.outputThroughStage1 {
        do {
          let log = try AppLog(app: app.name, path: app.logPath, output: output)
          logs[app.name] = log
          do {
            let attach = try AppAttach(app: app, dir: appDir(app.name), stdin: input, pty: pty)
            attaches[app.name] = attach
            log.attach = attach
          } catch {
            Stage1Log.error("app \(app.name): attach socket: \(error)")
            for fd in [input, pty].compactMap({ $0 }) { close(fd) }
          }
        } catch {
          Stage1Log.error("app \(app.name): \(error)")
          for o in output { close(o.fd) }
          for fd in [input, pty].compactMap({ $0 }) { close(fd) }
        }
      }
      writeState(app.name, .running(.init(pid: pid, pidStartTime: ProcessControl.startTime(of: pid), startedAt: Clock.nowRFC3339())))
      if !app.hooks.isEmpty { launcher.hooks.runLogged(.poststart, pid: pid) }
    case .failed(let message, let pid):
      Stage1Log.error("app \(app.name): \(message)")
      if let pid { _ = try? ProcessControl.wait(pid) }
      cgroups.removeApp(pod: manifest.id, app: app.name)
      let now = Clock.nowRFC3339()
      writeState(
        app.name,
        .exited(.init(startedAt: now, finishedAt: now, exitCode: 127, reason: .startFailed, message: message)))
      if exitStatus == 0 { exitStatus = 127 }
      // Hooks that ran before the failure may have set something up: poststop lets them take it down.
      if !app.hooks.isEmpty { launcher.hooks.runLogged(.poststop, pid: pid) }
      if !manifest.mutable { beginStop(timeoutSeconds: manifest.stopTimeoutSeconds) }
    }
  }

  func reaped(pid: Int32, _ t: ProcessControl.Termination) {
    guard let name = running.removeValue(forKey: pid) else { return }  // an orphan (fly): nothing to record
    appKillDeadlines.removeValue(forKey: name)
    // Every line the app wrote is in its log before its exit is recorded.
    logs[name]?.drain(timeout: 2)
    attaches[name]?.appExited(status: t.shellStatus)
    var s = AppState.Exited(
      startedAt: states[name]?.startedAt, finishedAt: Clock.nowRFC3339(), exitCode: t.shellStatus,
      reason: t == .exited(0) ? .completed : .error)
    if case .signaled(let sig) = t { s.signal = sig }
    if cgroups.oomKilled(pod: manifest.id, app: name) {
      s.reason = .oomKilled
      s.message = "the app's memory limit was reached and the kernel killed it"
    }
    writeState(name, .exited(s))
    cgroups.removeApp(pod: manifest.id, app: name)
    if t.shellStatus != 0 && exitStatus == 0 { exitStatus = t.shellStatus }
    if let app = manifest.app(named: name), !app.hooks.isEmpty {
      AppHooks(pod: manifest, app: app, appDir: appDir(name)).runLogged(.poststop, pid: pid)
    }
  }

  func signal(app name: String, _ sig: Int32) {
    for (pid, n) in running where n == name { kill(pid, sig) }
  }

  func beginStop(timeoutSeconds: Int) {
    stopRequested = true
    for (pid, name) in running {
      let sig = Int32(manifest.app(named: name)?.stopSignal ?? Int(SIGTERM))
      kill(pid, sig)
    }
    let deadline = Clock.monotonic() + Double(max(0, timeoutSeconds))
    killDeadline = min(killDeadline ?? deadline, deadline)
  }

  // MARK: the loop

  func loop() {
    var trimmed = false
    while true {
      // Once the apps are up, stage1 only waits: give back what start-up needed (a syscall per
      // mapping; the pages stay in the page cache for the next request).
      if !trimmed {
        MemoryTrim.dropExecutablePages()
        trimmed = true
      }
      if running.isEmpty && (!manifest.mutable || stopRequested) { return }
      var timeoutMs: Int32 = -1
      let now = Clock.monotonic()
      if let d = killDeadline, d <= now {
        for pid in running.keys { kill(pid, SIGKILL) }
        killDeadline = nil
      }
      for (name, d) in appKillDeadlines where d <= now {
        signal(app: name, SIGKILL)
        appKillDeadlines.removeValue(forKey: name)
      }
      if let next = ([killDeadline].compactMap { $0 } + Array(appKillDeadlines.values)).min() {
        timeoutMs = Int32(min(max(0, next - now) * 1000 + 1, 60_000))
      }
      var fds = [pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0), pollfd(fd: controlFD, events: Int16(POLLIN), revents: 0)]
      var owners: [Int32: AppLog] = [:]
      for log in logs.values {
        for fd in log.streams.keys {
          owners[fd] = log
          fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
        }
      }
      let logEnd = fds.count
      var attachOwners: [Int32: AppAttach] = [:]
      for attach in attaches.values {
        for p in attach.pollSet {
          attachOwners[p.fd] = attach
          fds.append(p)
        }
      }
      let attachEnd = fds.count
      for fd in notifyRelay?.sockets.keys ?? [:].keys { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
      let n = poll(&fds, nfds_t(fds.count), timeoutMs)
      if n < 0 && errno != EINTR {
        Stage1Log.error("poll: \(errnoDescription(errno))")
        return
      }
      for p in fds[2..<logEnd] where p.revents != 0 { owners[p.fd]?.pump(p.fd) }
      // A descriptor handled (and closed) above may be reused: only act on ones still owned.
      let clientsBefore = attaches.values.reduce(0) { $0 + $1.clients.count }
      for p in fds[logEnd..<attachEnd] where p.revents != 0 {
        if let a = attachOwners[p.fd], a.owns(p.fd) { a.handle(p) }
      }
      for p in fds[attachEnd...] where p.revents != 0 { notifyRelay?.receive(p.fd) }
      // The last attached client left: give back what serving it touched, on the next turn.
      if clientsBefore > 0 && attaches.values.allSatisfy({ $0.clients.isEmpty }) { trimmed = false }
      // A request (start, stop, remove…) or a reaped app ran code that the wait does not need:
      // give its pages back again on the next turn.
      if fds[0].revents != 0 {
        handleSignals()
        trimmed = false
      }
      if fds[1].revents != 0 {
        handleControl()
        trimmed = false
      }
    }
  }

  func handleSignals() {
    while true {
      let sig = ProcessControl.readSignal(signalFD)
      if sig <= 0 { break }
      switch sig {
      case SIGCHLD:
        while let (pid, t) = ProcessControl.reapAny() { reaped(pid: pid, t) }
      case SIGTERM, SIGINT, SIGHUP, SIGQUIT:
        beginStop(timeoutSeconds: manifest.stopTimeoutSeconds)
      default: break
      }
    }
  }

  func handleControl() {
    while true {
      let c = UnixSocket.accept(controlFD)
      if c < 0 { return }
      defer { close(c) }
      UnixSocket.setTimeout(c, seconds: 5)
      let response: Stage1Response
      do {
        let line = try UnixSocket.readLine(c, limit: 1 << 16)
        let request = try Stage1Request(json: JSON.parse(bytes: line))
        try handle(request)
        response = .ok
      } catch let e as LiftoffError {
        response = Stage1Response(e)
      } catch {
        response = Stage1Response(LiftoffError(.internal, "\(error)"))
      }
      try? FileSystem.writeAll(c, Array((response.json.serialized() + "\n").utf8))
    }
  }

  func handle(_ request: Stage1Request) throws(LiftoffError) {
    switch request {
    case .ping: return
    case .stopPod(let t): beginStop(timeoutSeconds: t)
    case .startApp(let name):
      guard manifest.mutable else { throw .init(.failedPrecondition, "pod \(manifest.id) is immutable") }
      guard !stopRequested else { throw .init(.failedPrecondition, "pod \(manifest.id) is stopping") }
      do {
        manifest = try Self.readManifest(podDir: podDir)
      } catch {
        throw .init(.internal, "pod \(manifest.id): rereading pod.json: \(error)")
      }
      guard let app = manifest.app(named: name) else { throw .notFound("pod \(manifest.id) has no app \(name)") }
      if let s = states[name] {
        throw .init(.failedPrecondition, "app \(name) was already started (it is \(s.phase.rawValue))")
      }
      start(app)
      if let e = states[name]?.exited, e.reason == .startFailed {
        throw .init(.failedPrecondition, "app \(name) failed to start: \(e.message ?? "")")
      }
    case .stopApp(let name, let t):
      guard manifest.app(named: name) != nil || states[name] != nil else {
        throw .notFound("pod \(manifest.id) has no app \(name)")
      }
      guard running.values.contains(name) else { return }  // stopping what is not running succeeds
      signal(app: name, Int32(manifest.app(named: name)?.stopSignal ?? Int(SIGTERM)))
      appKillDeadlines[name] = Clock.monotonic() + Double(max(0, t))
    case .removeApp(let name):
      // A running app is killed and reaped first. `liftoff app rm` stops it before it asks, but only
      // when its state says running: a start request whose client was killed can reach stage1 after
      // the caller saw the app as created (found by hack/stress.py faults; RemoveContainer then failed
      // for good with "is running").
      for (pid, n) in running where n == name {
        kill(pid, SIGKILL)
        _ = ProcessControl.waitForExit(pid, timeout: 10)
      }
      while let (pid, t) = ProcessControl.reapAny() { reaped(pid: pid, t) }
      guard !running.values.contains(name) else { throw .init(.failedPrecondition, "app \(name) did not exit after SIGKILL") }
      let rootfs = "\(appDir(name))/rootfs/merged"
      if manifest.flavor == .fly, let dir = try? Mounts.canonical(appDir(name)) {
        _ = try? Mounts.unmountAll(under: dir)
      } else {
        _ = try? Mounts.unmount(rootfs)
      }
      cgroups.removeApp(pod: manifest.id, app: name)
      logs.removeValue(forKey: name)
      attaches.removeValue(forKey: name)?.shutdown()
      states.removeValue(forKey: name)
    case .reopenLog(let name):
      guard let log = logs[name], let path = log.path else { throw .init(.failedPrecondition, "app \(name) has no open log") }
      do { try log.open() } catch { throw .init(.internal, "app \(name): reopening \(path): \(error)") }
    }
  }

  // MARK: the end

  func cleanUp() {
    for pid in running.keys { kill(pid, SIGKILL) }
    while !running.isEmpty, let (pid, t) = try? waitAny() { reaped(pid: pid, t) }
    if let pid = podInit {
      kill(pid, SIGKILL)
      _ = try? ProcessControl.wait(pid)
      podInit = nil
    }
    if manifest.flavor == .fly, let dir = try? Mounts.canonical(podDir) {
      // fly mounts live in the host's mount namespace: take them down ourselves.
      _ = try? Mounts.unmountAll(under: dir)
    }
    cgroups.removePod(manifest.id)
    for a in attaches.values { a.shutdown() }
    attaches.removeAll()
    notifyRelay?.close()
    if controlFD >= 0 { unlink("\(podDir)/stage1/control.sock") }
    notifyChanged()  // the listener also watches our exit (a pidfd) for the moment the lock is free
  }

  func waitAny() throws -> (Int32, ProcessControl.Termination) {
    let pid = running.keys.first!
    return (pid, try ProcessControl.wait(pid))
  }
}

