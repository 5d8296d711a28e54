// stage0's pod operations after prepare: run a prepared pod (exec into stage1), status, stop, rm,
// gc and enter. Every operation works from the on-disk state and the pod's flock alone, so that
// concurrent commands (two `rm`, `gc` during `run`, `status` during `stop`) are safe:
// moves are rename(2)s (one wins, the other is told the pod moved), and nothing is removed while
// its lock is held by someone else.
import Foundation
import LiftoffCore
import LiftoffNet
import LiftoffOS

public struct PodManager: Sendable {
  public let store: PodStore
  public let cgroups: Cgroups
  /// The node's CNI settings (global `--cni-*` flags): `gc` runs CNI GC with them.
  public var cni: (confDir: String, binDirs: [String], defaultNetwork: Bool)?

  public init(store: PodStore, cgroups: Cgroups = .host()) {
    self.store = store
    self.cgroups = cgroups
  }

  /// The pod's cgroups: under its manifest's `cgroupParent`, or the default parent when it has none
  /// (or its manifest cannot be read, as after a crash before it was written).
  public func cgroups(of id: String) -> Cgroups {
    guard let place = store.locate(id), let m = try? store.readManifest(id, at: place) else { return cgroups }
    return cgroups.of(m)
  }

  /// Attaches a CNI pod that was just moved to run/ (its lock held by the caller) to its network.
  /// On failure the pod is destroyed (detached, directory removed) and the network's error is
  /// thrown — `beforeCleanup` runs first (app sandbox stops its waiting stage1); a caller killed
  /// meanwhile leaves an unlocked pod in run/ that gc detaches.
  func attachNetwork(_ manifest: PodManifest, beforeCleanup: () -> Void = {}) throws(LiftoffError) {
    let id = manifest.id
    let dir = store.path(.run, id)
    guard manifest.network.mode == .netns, let plan = try PodNetworkPlan.read(podDir: dir) else { return }
    do {
      _ = try plan.attach(podID: id, hostname: manifest.hostname, podDir: dir, root: store.root)
      FailPoint.hit(.networkAttached)
    } catch {
      beforeCleanup()
      if (try? store.move(id, from: .run, to: .garbage)) != nil { try? destroy(id, at: .garbage) }
      throw LiftoffError(error.code, "pod \(id): \(error.message)", cause: error.cause)
    }
  }

  // MARK: run

  /// Path of liftoff-stage1: `$LIFTOFF_STAGE1`, else beside the running executable.
  public static func stage1Path() throws(LiftoffError) -> String {
    try helperPath("liftoff-stage1", variable: "LIFTOFF_STAGE1")
  }

  /// Path of liftoff-enter (what crosses into an app for `enter` and CRI exec): `$LIFTOFF_ENTER`, else
  /// beside the running executable.
  public static func enterPath() throws(LiftoffError) -> String {
    try helperPath("liftoff-enter", variable: "LIFTOFF_ENTER")
  }

  static func helperPath(_ name: String, variable: String) throws(LiftoffError) -> String {
    if let v = getenv(variable), v.pointee != 0 { return String(cString: v) }
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    let p = (exe as NSString).deletingLastPathComponent + "/" + name
    guard FileManager.default.isExecutableFile(atPath: p) else {
      throw .init(.failedPrecondition, "\(name) not found beside \(exe) (set \(variable))")
    }
    return p
  }

  /// Moves a prepared pod to run/ and execs stage1 in this process, which becomes the pod's
  /// supervisor (a systemd unit's main PID stays the pod). Returns only by throwing.
  public func execPrepared(_ id: String) throws(LiftoffError) -> Never {
    _ = try Self.stage1Path()
    let lock = try lockPrepared(id)
    try store.move(id, from: .prepared, to: .run)
    try execRun(try store.readManifest(id, at: .run), lock: lock)
  }

  /// Execs stage1 for a pod this process holds locked in run/ (attaching its network first).
  /// Returns only by throwing.
  public func execRun(_ manifest: PodManifest, lock: FileLock) throws(LiftoffError) -> Never {
    let id = manifest.id
    let stage1 = try Self.stage1Path()
    try attachNetwork(manifest)
    let dir = store.path(.run, id)
    do {
      if manifest.network.mode == .none, let ns = manifest.network.netnsPath {
        _ = try NetworkNamespace.create(name: (ns as NSString).lastPathComponent, runDir: (ns as NSString).deletingLastPathComponent)
      }
      try lock.setInheritable(true)
    } catch let e as LiftoffError {
      throw e
    } catch {
      throw LiftoffError(.internal, "starting pod \(id)", cause: error)
    }
    let argv = [stage1] + Stage1Arguments(podDir: dir, lockFD: lock.fd).arguments
    var cargs = argv.map { strdup($0) } + [nil]
    FailPoint.hit(.beforeStage1)
    execv(stage1, &cargs)
    let e = errno
    throw LiftoffError(.internal, "exec \(stage1)", cause: SystemCallError("execv", errno: e, path: stage1))
  }

  func lockPrepared(_ id: String) throws(LiftoffError) -> FileLock {
    do {
      let lock = try FileLock(path: store.path(.prepared, id))
      guard try lock.lock(exclusive: true, blocking: false) else {
        throw LiftoffError(.failedPrecondition, "pod \(id) is being run by another command")
      }
      return lock
    } catch let e as LiftoffError {
      throw e
    } catch let e as SystemCallError where e.errno == ENOENT {
      throw LiftoffError(.failedPrecondition, "pod \(id) is not prepared (already run or removed)")
    } catch {
      throw LiftoffError(.internal, "locking pod \(id): \(error)")
    }
  }

  // MARK: status

  /// Is the pod's directory locked by a live owner?
  public func isLocked(_ id: String, _ place: PodStore.Place) -> Bool {
    (try? FileLock.isHeld(store.path(place, id))) ?? false
  }

  public func status(_ id: String) throws(LiftoffError) -> PodStatus {
    guard let place = store.locate(id) else { throw .notFound("pod \(id) not found") }
    return status(id, place)
  }

  /// `manifest`: the pod's manifest when the caller has read it already (nil: read here).
  public func status(_ id: String, _ place: PodStore.Place, manifest known: PodManifest? = nil) -> PodStatus {
    let state: String
    switch place {
    case .embryo: state = "embryo"
    case .prepare: state = "preparing"
    case .prepared: state = "prepared"
    case .run: state = isLocked(id, place) ? "running" : "exited"
    case .exitedGarbage: state = "exited-garbage"
    case .garbage: state = "garbage"
    }
    let manifest = known ?? (try? store.readManifest(id, at: place))
    let dir = store.path(place, id)
    var apps: [AppStatus] = []
    var exitCode: Int32?
    for app in manifest?.apps ?? [] {
      let s = store.readAppState(id, at: place, app: app.name)
      var phase = s?.phase.rawValue ?? "created"
      let exited = s?.exited
      var reason = exited?.reason.rawValue
      var message = exited?.message
      // stage1 died without recording the end of a running app.
      if phase == "running" && state != "running" {
        phase = "exited"
        reason = reason ?? AppState.Reason.error.rawValue
        message = message ?? "stage1 ended without recording the app's exit"
      }
      apps.append(
        AppStatus(
          name: app.name, image: app.image.name, imageID: app.image.id, state: phase,
          pid: phase == "running" ? s?.pid : nil, startedAt: s?.startedAt, finishedAt: exited?.finishedAt,
          exitCode: exited?.exitCode, signal: exited?.signal, reason: reason, message: message))
      if state != "running", state != "prepared", let c = exited?.exitCode, c != 0, exitCode == nil || exitCode == 0 {
        exitCode = c
      }
    }
    if state == "exited" || state == "exited-garbage" { exitCode = exitCode ?? (apps.allSatisfy { $0.exitCode == 0 } ? 0 : 1) }
    var pid: Int32?
    if state == "running", let text = try? FileSystem.readString("\(dir)/stage1/pid") {
      pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
    return PodStatus(
      state: state, id: id, createdAt: manifest?.createdAt, flavor: manifest?.flavor.rawValue,
      hostname: manifest?.hostname, network: manifest?.network.mode.rawValue, pid: pid, exitCode: exitCode,
      ips: PodNetworkPlan.ips(podDir: dir), apps: apps)
  }

  public func list() -> [PodStatus] {
    store.all().map { status($0.id, $0.place) }.sorted { ($0.createdAt ?? "", $0.id) < ($1.createdAt ?? "", $1.id) }
  }

  /// Waits until the pod is no longer running (its stage1 lock is released), up to `timeout`.
  /// Returns false on timeout.
  public func waitExited(_ id: String, timeout: Double? = nil) -> Bool {
    let deadline = timeout.map { Date().addingTimeInterval($0) }
    while true {
      guard let place = store.locate(id), place == .run else { return true }
      guard let lock = try? FileLock(path: store.path(.run, id)) else { return true }
      if (try? lock.lock(exclusive: false, blocking: deadline == nil)) == true { return true }
      guard let deadline else { continue }
      let left = deadline.timeIntervalSinceNow
      if left <= 0 { return false }
      // stage1's lock goes when it exits: wait on its pidfd (capped, in case the pid file is stale).
      let pid = (try? FileSystem.readString(store.path(.run, id) + "/stage1/pid")).flatMap {
        Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
      }
      if let pid, ProcessControl.waitForExit(pid, timeout: min(left, 0.5)) { continue }
      usleep(20_000)
    }
  }

  // MARK: stop

  /// Stops a running pod: its stop signal then SIGKILL after `timeoutSeconds` (stage1 does it),
  /// or SIGKILL to stage1 at once with `force`. Stopping an exited pod succeeds. Returns once the pod
  /// has exited and its network is released (releaseNetwork).
  public func stop(_ id: String, force: Bool = false, timeoutSeconds: Int? = nil) throws(LiftoffError) {
    guard let place = store.locate(id) else { throw .notFound("pod \(id) not found") }
    guard place == .run else {
      if place == .prepared { throw .init(.failedPrecondition, "pod \(id) is prepared, not running") }
      return
    }
    try stopProcesses(id, force: force, timeoutSeconds: timeoutSeconds)
    try releaseNetwork(id)
  }

  /// A stopped pod gives its network back at once — CNI DEL for each attachment (IP addresses, host
  /// veths, port mappings) and its namespace removed — as CRI requires of StopPodSandbox, instead of
  /// holding addresses until rm or gc. A marker records it, so that rm and gc do not run the plugins
  /// again; a crash before the marker only means one more DEL, which plugins treat as success. A pod
  /// that another command holds (rm, gc: they detach it themselves) is left to that command; a reader's
  /// momentary lock is waited out.
  func releaseNetwork(_ id: String) throws(LiftoffError) {
    let dir = store.path(.run, id)
    guard let lock = try? FileLock(path: dir), (try? lock.lockExclusive(within: 0.5)) == true else { return }
    defer { lock.unlock() }
    guard store.locate(id) == .run, let plan = try PodNetworkPlan.read(podDir: dir), !PodNetworkPlan.isReleased(podDir: dir) else {
      return
    }
    try plan.detach(podID: id, root: store.root)
    FailPoint.hit(.networkReleased)
    // The directory is missing where the pod's stage0 was killed before it attached the network.
    do {
      try FileSystem.makeDirectories(PodNetworkPlan.filesDir(podDir: dir))
      try FileSystem.writeAtomically(PodNetworkPlan.releasedFile(podDir: dir), "")
    } catch {
      throw .init(.internal, "pod \(id): recording its released network", cause: error)
    }
  }

  private func stopProcesses(_ id: String, force: Bool, timeoutSeconds: Int?) throws(LiftoffError) {
    if !isLocked(id, .run) { return }
    let dir = store.path(.run, id)
    if !force {
      let manifest = try store.readManifest(id, at: .run)
      let t = timeoutSeconds ?? manifest.stopTimeoutSeconds
      do {
        try UnixSocket.call(dir: "\(dir)/stage1", .stopPod(timeoutSeconds: t)).check()
        if waitExited(id, timeout: Double(t) + 15) { return }
      } catch {
        // stage1 not answering (still starting, or wedged): fall through to SIGKILL.
        if !isLocked(id, .run) { return }
      }
    }
    if let text = try? FileSystem.readString("\(dir)/stage1/pid"),
      let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
    {
      kill(pid, SIGKILL)
    }
    // Apps die with stage1 (parent-death signal); whatever is left in the cgroups goes too.
    _ = cgroups(of: id).pids(pod: id).map { kill($0, SIGKILL) }
    guard waitExited(id, timeout: 15) else {
      throw .init(.deadlineExceeded, "pod \(id) did not exit after SIGKILL to its stage1")
    }
  }

  // MARK: rm and gc

  /// Removes an exited (or prepared, or half-made) pod completely. A running pod is refused.
  public func remove(_ id: String) throws(LiftoffError) {
    guard let place = store.locate(id) else { throw .notFound("pod \(id) not found") }
    let lock: FileLock
    do { lock = try FileLock(path: store.path(place, id)) } catch {
      throw .notFound("pod \(id) not found")
    }
    guard (try? lock.lockExclusive(within: 0.5)) == true else {
      switch place {
      case .run: throw .init(.failedPrecondition, "pod \(id) is running; stop it first")
      case .embryo, .prepare: throw .init(.failedPrecondition, "pod \(id) is being prepared")
      default: throw .init(.failedPrecondition, "pod \(id) is being removed by another command")
      }
    }
    // While this waited for the lock, another command may have moved or removed the pod.
    guard store.locate(id) == place else { throw .notFound("pod \(id) was removed by another command") }
    var at = place
    switch place {
    case .run:
      try store.move(id, from: .run, to: .exitedGarbage)
      at = .exitedGarbage
    case .prepared, .embryo, .prepare:
      try store.move(id, from: place, to: .garbage)
      at = .garbage
    case .exitedGarbage, .garbage: break
    }
    try destroy(id, at: at)
    _ = lock
  }

  /// Takes down everything a pod may have left (processes in its cgroups, mounts under its
  /// directory, its network namespace, its cgroups) and deletes its directory. The caller holds
  /// the pod's lock and the pod is in a garbage place.
  func destroy(_ id: String, at place: PodStore.Place) throws(LiftoffError) {
    let dir = store.path(place, id)
    let podCgroups = cgroups(of: id)
    for pid in podCgroups.pids(pod: id) { kill(pid, SIGKILL) }
    let cgroupsGone = podCgroups.removePod(id)
    // The systemd driver: the scope normally went when its last process did; one left behind (a
    // stage1 killed with apps still in it) is stopped, which kills what is in it.
    var scopeError: LiftoffError?
    if podCgroups.systemdScopes {
      do { try SystemdUnits.stopUnit(Cgroups.scopeUnit(pod: id)) } catch { scopeError = error }
    }
    do {
      try Mounts.unmountAll(under: dir)
      FailPoint.hit(.teardownUnmounted)
      if let plan = try PodNetworkPlan.read(podDir: dir), !PodNetworkPlan.isReleased(podDir: dir) {
        try plan.detach(podID: id, root: store.root)
        FailPoint.hit(.networkReleased)
      }
      try NetworkNamespace.remove(PodStore.netnsPath(id))
      let left = try Mounts.mountPoints().filter { $0 == dir || $0.hasPrefix(dir + "/") }
      guard left.isEmpty else {
        throw LiftoffError(.internal, "pod \(id): mounts remain under \(dir): \(left.joined(separator: ", "))")
      }
      try FileSystem.removeTree(dir)
    } catch let e as LiftoffError {
      throw e
    } catch {
      throw LiftoffError(.internal, "removing pod \(id)", cause: error)
    }
    if !cgroupsGone { throw .init(.internal, "pod \(id): its cgroups could not all be removed") }
    if let scopeError { throw scopeError }
  }

  public struct GCResult: Sendable {
    public var removed: [String] = []
    public var errors: [String] = []
  }

  /// rkt's gc: exited pods past `gracePeriod` seconds go to exited-garbage; pods a crash left in
  /// embryo or prepare go to garbage; everything in the garbage places is destroyed.
  public func gc(gracePeriod: Double) -> GCResult {
    var result = GCResult()
    // Half-made pods: only judged while no creator is between mkdir and flock.
    if let embryoLock = try? FileLock(path: store.dir(.embryo)), (try? embryoLock.lock(exclusive: true, blocking: true)) == true {
      for id in (try? FileSystem.list(store.dir(.embryo))) ?? [] where PodID.isValid(id) {
        if let l = try? FileLock(path: store.path(.embryo, id)), (try? l.lock(exclusive: true)) == true {
          try? store.move(id, from: .embryo, to: .garbage)
        }
      }
      embryoLock.unlock()
    }
    for id in (try? FileSystem.list(store.dir(.prepare))) ?? [] where PodID.isValid(id) {
      if let l = try? FileLock(path: store.path(.prepare, id)), (try? l.lock(exclusive: true)) == true {
        try? store.move(id, from: .prepare, to: .garbage)
      }
    }
    let now = Date().timeIntervalSince1970
    for id in (try? FileSystem.list(store.dir(.run))) ?? [] where PodID.isValid(id) {
      guard let l = try? FileLock(path: store.path(.run, id)), (try? l.lock(exclusive: true)) == true else { continue }
      if now - exitTime(id) >= gracePeriod { try? store.move(id, from: .run, to: .exitedGarbage) }
    }
    for place in [PodStore.Place.exitedGarbage, .garbage] {
      for id in (try? FileSystem.list(store.dir(place))) ?? [] where PodID.isValid(id) {
        guard let l = try? FileLock(path: store.path(place, id)), (try? l.lock(exclusive: true)) == true else { continue }
        do {
          try destroy(id, at: place)
          result.removed.append(id)
        } catch {
          result.errors.append("\(error)")
        }
      }
    }
    // CNI attachments whose pod is gone (a crash between ADD and the pod's record, or a pod directory
    // deleted behind liftoff's back) with their network namespaces — this store's CNI cache recorded
    // them, so they are this store's, never another data directory's — and the plugins' own GC
    // (CNI ≥ 1.1) with the attachments of every pod still on disk.
    if let cni {
      let manager = PodNetworkPlan.manager(root: store.root, confDir: cni.confDir, binDirs: cni.binDirs, defaultNetwork: cni.defaultNetwork)
      let valid = Set(store.all().map { CNIAttachment(containerID: $0.id) })
      do {
        for gone in try manager.gc(valid: valid) where PodID.isValid(gone.containerID) {
          do { try NetworkNamespace.remove(PodStore.netnsPath(gone.containerID)) } catch { result.errors.append("\(error)") }
        }
      } catch { result.errors.append("cni gc: \(error)") }
    }
    return result
  }

  /// When an exited pod ended: the newest of its state files (stage1 writes each app's end).
  func exitTime(_ id: String) -> Double {
    let dir = store.path(.run, id)
    var newest = 0.0
    var files = ["\(dir)/stage1/pid", dir]
    for app in (try? FileSystem.list("\(dir)/apps")) ?? [] { files.append("\(dir)/apps/\(app)/state.json") }
    for f in files {
      if let st = try? FileSystem.fileStat(f) {
        newest = max(newest, Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
      }
    }
    return newest
  }

  // MARK: enter

  /// Runs `command` inside a running app with the app's confinement (see liftoff-enter/main.c): its
  /// namespaces and root, cgroup, user, groups, capabilities, no_new_privs, seccomp program,
  /// environment and working directory. Execs liftoff-enter with LIFTOFF_NSENTER_* set.
  /// `tty`: the command gets its stdin (a terminal) as controlling terminal. Returns only by throwing.
  public func enter(_ id: String, app: String?, command: [String], tty: Bool = false) throws(LiftoffError) -> Never {
    let (env, argv) = try enterInvocation(id, app: app, command: command, tty: tty)
    let path = try Self.enterPath()
    var cargs = argv.map { strdup($0) } + [nil]
    var cenv = env.map { strdup($0) } + [nil]
    execve(path, &cargs, &cenv)
    throw .init(.internal, "exec \(path): \(errnoDescription(errno))")
  }

  /// The environment and argv to run liftoff-enter with to enter the app (see liftoff-enter/main.c).
  /// The environment holds only liftoff-enter's own variables: the app's environment is handed over as
  /// a file (`apps/<name>/env`, NUL-separated, written here when missing), never as the environment of
  /// a process that runs as the host's root.
  public func enterInvocation(_ id: String, app: String?, command: [String], tty: Bool = false) throws(LiftoffError)
    -> (env: [String], argv: [String])
  {
    guard let place = store.locate(id) else { throw .notFound("pod \(id) not found") }
    guard place == .run, isLocked(id, .run) else { throw .init(.failedPrecondition, "pod \(id) is not running") }
    let manifest = try store.readManifest(id, at: .run)
    let target: AppManifest
    if let app {
      guard let a = manifest.app(named: app) else { throw .notFound("pod \(id) has no app \(app)") }
      target = a
    } else {
      guard manifest.apps.count == 1, let a = manifest.apps.first else {
        throw .invalidArgument("pod \(id) has \(manifest.apps.count) apps: choose one with --app")
      }
      target = a
    }
    guard case .running(let state) = store.readAppState(id, at: .run, app: target.name) else {
      throw .init(.failedPrecondition, "app \(target.name) of pod \(id) is not running")
    }
    let appDir = "\(store.path(.run, id))/apps/\(target.name)"
    let envFile = "\(appDir)/env"
    if !FileSystem.exists(envFile) {
      do {
        try FileSystem.writeAtomically(envFile, Array(target.env.map { $0 + "\0" }.joined().utf8), mode: 0o600)
      } catch {
        throw .init(.internal, "app \(target.name) of pod \(id): writing its environment for liftoff-enter: \(error)")
      }
    }
    var env = ["LIFTOFF_NSENTER_PID=\(state.pid)", "LIFTOFF_NSENTER_ENV=\(envFile)"]
    if let start = state.pidStartTime { env.append("LIFTOFF_NSENTER_PID_START=\(start)") }
    env.append("LIFTOFF_NSENTER_CWD=\(target.workingDir)")
    let cgroupDirs = cgroups.of(manifest).directories(pod: id, app: target.name).filter { FileSystem.isDirectory($0) }
    if !cgroupDirs.isEmpty { env.append("LIFTOFF_NSENTER_CGROUPS=" + cgroupDirs.joined(separator: ":")) }
    env.append("LIFTOFF_NSENTER_UID=\(target.user.uid)")
    env.append("LIFTOFF_NSENTER_GID=\(target.user.gid)")
    env.append("LIFTOFF_NSENTER_GROUPS=" + target.user.additionalGids.map(String.init).joined(separator: ","))
    if manifest.flavor == .default {
      let caps = try Capabilities.mask(target.capabilities)
      env.append("LIFTOFF_NSENTER_CAPS=" + String(caps, radix: 16))
      let ambient = try Capabilities.mask(target.ambientCapabilities)
      if ambient != 0 { env.append("LIFTOFF_NSENTER_AMBIENT=" + String(ambient, radix: 16)) }
      if target.noNewPrivileges { env.append("LIFTOFF_NSENTER_NNP=1") }
      if target.seccomp != "unconfined" {
        env.append("LIFTOFF_NSENTER_SECCOMP=\(appDir)/seccomp.bpf")
      }
    }
    // A pod with its own devpts gets a pty from it (ttyname() works inside; nsenter.c relays).
    if tty { env.append("LIFTOFF_NSENTER_TTY=" + (manifest.flavor == .default ? "inner" : "1")) }
    let cmd = command.isEmpty ? ["/bin/sh"] : command
    return (env, ["liftoff-enter"] + cmd)
  }
}
