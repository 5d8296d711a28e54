// Mutable pods (`liftoff app …`, what the CRI service drives): a sandbox whose stage1 runs detached
// and waits for orders on its control socket, apps added to pod.json by stage0 and started, stopped
// and removed by stage1 on request. Reads (list, status) come from the on-disk state only.
//
// pod.json of a running mutable pod is changed only under `manifest.lock` in the pod directory (the
// pod directory's own flock belongs to stage1), always by an atomic rename.
import Foundation
import LiftoffCore
import LiftoffNet
import LiftoffOS

public struct AppManager: Sendable {
  public let store: PodStore
  public let pods: PodManager

  public init(store: PodStore) {
    self.store = store
    self.pods = PodManager(store: store)
  }

  // MARK: sandbox

  /// Creates a mutable pod and starts its stage1 detached (double fork: stage1 forks again and
  /// the intermediate exits, so stage1 ends up a child of init). Returns once stage1 serves its
  /// control socket, or throws stage1's own error if it failed to come up.
  public func sandbox(_ options: PodOptions, readyTimeout: Double = 30) throws(LiftoffError) -> String {
    var o = options
    o.mutable = true
    let stage1 = try PodManager.stage1Path()
    let (manifest, lock) = try PodPreparer(store: store).prepare(o, into: .run)
    let id = manifest.id
    let dir = store.path(.run, id)
    // stage1 starts while the CNI plugins run: it sets up the pod's namespaces, then waits for a byte
    // on `start` before it joins the network namespace and serves its socket. If we fail (or die)
    // first, it reads EOF and exits; `alive` reaches EOF once it is gone, and only then is the pod
    // cleaned up (a pod whose creator died is gc's, as before: unlocked once stage1 has exited).
    // `start` is a socket pair, not a pipe: sending to a stage1 that died gives EPIPE, not SIGPIPE.
    var pair: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
      throw LiftoffError(.internal, "starting stage1 for pod \(id)", cause: SystemCallError("socketpair", errno: errno))
    }
    let start = (read: pair[0], write: pair[1])
    let alive: (read: Int32, write: Int32)
    do {
      alive = try ProcessControl.pipe()
    } catch {
      close(start.read)
      close(start.write)
      throw LiftoffError(.internal, "starting stage1 for pod \(id)", cause: error)
    }
    defer { close(alive.read) }
    var startWrite = start.write
    defer { if startWrite >= 0 { close(startWrite) } }
    // The first half of stage1's double fork exits at once; it is reaped after the network is up,
    // not waited for before (its exec and fork took ~3 ms of the critical path).
    var firstHalf: pid_t = 0
    defer { ProcessControl.reap(firstHalf) }
    func giveUp() {
      close(startWrite)
      startWrite = -1
      var p = pollfd(fd: alive.read, events: Int16(POLLIN), revents: 0)
      _ = poll(&p, 1, 10_000)
    }
    do {
      // Where systemd is PID 1, stage1 makes its own scope `liftoff-<id>.scope` (Supervisor).
      let command = Self.stage1Command(stage1: stage1, podDir: dir)
      FailPoint.hit(.beforeStage1)
      defer {
        close(start.read)
        close(alive.write)
      }
      firstHalf = try spawnDetached(
        command.path, command.args, lockFD: lock.fd, more: [start.read, alive.write], log: "\(dir)/stage1/stage1.log")
    } catch let e as LiftoffError {
      throw e
    } catch {
      throw LiftoffError(.internal, "starting stage1 for pod \(id)", cause: error)
    }
    try pods.attachNetwork(manifest, beforeCleanup: giveUp)
    do {
      if manifest.network.mode == .none, let ns = manifest.network.netnsPath {
        _ = try NetworkNamespace.create(
          name: (ns as NSString).lastPathComponent, runDir: (ns as NSString).deletingLastPathComponent)
      }
    } catch {
      giveUp()
      throw LiftoffError(.internal, "pod \(id): network namespace", cause: error)
    }
    // stage1 failed before it was ready: its reason, and the pod goes (as when the network fails).
    func exited() -> LiftoffError {
      let e = LiftoffError(.internal, "pod \(id): stage1 exited before it was ready: \(Self.lastLogLine(dir))")
      if (try? store.move(id, from: .run, to: .garbage)) != nil { try? pods.destroy(id, at: .garbage) }
      return e
    }
    var go: UInt8 = 1
    guard send(startWrite, &go, 1, Int32(MSG_NOSIGNAL)) == 1 else {
      giveUp()
      throw exited()
    }
    // Our descriptor goes; the lock stays with stage1's copy of the open file description.
    _ = lock
    // stage1 renames its control socket into place once it listens: no connection attempts before.
    var interval = PollInterval()
    let deadline = Date().addingTimeInterval(readyTimeout)
    while Date() < deadline {
      if FileSystem.exists("\(dir)/stage1/control.sock"),
        (try? UnixSocket.call(dir: "\(dir)/stage1", .ping, timeoutSeconds: 2)) == .ok
      {
        return id
      }
      // Our own descriptor of the pod lock is still open here, so the lock alone does not tell.
      if !pods.isLocked(id, .run) || Self.stage1Gone(dir) { throw exited() }
      interval.sleep()
    }
    throw .init(.deadlineExceeded, "pod \(id): stage1 not ready after \(Int(readyTimeout))s")
  }

  /// Has the stage1 that wrote `stage1/pid` exited (and been reaped)? False before it wrote it.
  static func stage1Gone(_ podDir: String) -> Bool {
    guard let text = try? FileSystem.readString("\(podDir)/stage1/pid"),
      let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
    else { return false }
    return kill(pid, 0) != 0 && errno == ESRCH
  }

  static func lastLogLine(_ podDir: String) -> String {
    let log = (try? FileSystem.readString("\(podDir)/stage1/stage1.log")) ?? ""
    return log.split(separator: "\n").last.map(String.init) ?? "no diagnostics"
  }

  /// How a mutable pod's stage1 is started: detached (it double-forks), the pod lock on fd 3, the
  /// start and alive pipes on fds 4 and 5.
  public static func stage1Command(stage1: String, podDir: String) -> (path: String, args: [String]) {
    (stage1, Stage1Arguments(podDir: podDir, lockFD: 3, detach: true, startFD: 4, aliveFD: 5).arguments)
  }

  /// Subprocess (posix_spawn: safe from a multi-threaded process) with stdin from /dev/null,
  /// stdout/stderr appended to `log`, the pod lock as fd 3, `more` as fds 4, 5, … and no other
  /// descriptor (a detached stage1 must not hold its caller's pipes open). Returns the spawned process
  /// (the first half of the double fork), which the caller reaps (ProcessControl.reap).
  func spawnDetached(_ path: String, _ args: [String], lockFD: Int32, more: [Int32] = [], log: String) throws -> pid_t {
    let logFD = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
    guard logFD >= 0 else { throw SystemCallError("open", errno: errno, path: log) }
    defer { close(logFD) }
    var stage1 = Subprocess(
      executable: path, argv: [path] + args, env: ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" })
    stage1.stdout = .fd(logFD)
    stage1.stderr = .fd(logFD)
    stage1.extraFDs = [lockFD] + more
    return try stage1.spawn().pid
  }

  // MARK: apps

  func runningMutablePod(_ id: String) throws(LiftoffError) -> PodManifest {
    guard let place = store.locate(id) else { throw .notFound("pod \(id) not found") }
    guard place == .run, pods.isLocked(id, .run) else { throw .init(.failedPrecondition, "pod \(id) is not running") }
    let m = try store.readManifest(id, at: .run)
    guard m.mutable else { throw .init(.failedPrecondition, "pod \(id) is immutable (made by run, not app sandbox)") }
    return m
  }

  func withManifestLock<T>(_ id: String, _ place: PodStore.Place, _ body: () throws -> T) throws(LiftoffError) -> T {
    let path = "\(store.path(place, id))/manifest.lock"
    do {
      try FileSystem.touch(path)
      let l = try FileLock(path: path)
      try l.lock(exclusive: true, blocking: true)
      defer { l.unlock() }
      return try body()
    } catch let e as LiftoffError {
      throw e
    } catch {
      throw LiftoffError(.internal, "pod \(id): \(error)")
    }
  }

  /// The protocol level of the pod's running stage1 (Stage1Protocol): 1 for a stage1 of a build
  /// before levels were written.
  func stage1Level(_ id: String) -> Int {
    guard let text = try? FileSystem.readString("\(store.path(.run, id))/\(Stage1Protocol.levelFile)") else { return 1 }
    return Stage1Protocol.level(fromFile: text) ?? 1
  }

  /// After an upgrade, a pod's stage1 may be older than this liftoff: refuse an app that needs what
  /// that stage1 would silently skip, rather than run it with less confinement than asked.
  func checkStage1Supports(_ app: AppManifest, pod id: String) throws(LiftoffError) {
    let level = stage1Level(id)
    if level < 2, let m = app.mounts.first(where: { !$0.flags.isEmpty }) {
      throw .init(
        .failedPrecondition,
        "pod \(id): its stage1 (protocol level \(level), from an older liftoff) does not apply mount flags "
          + "(\(m.flags.joined(separator: ",")) on \(m.destination)); recreate the pod to use them")
    }
    if level < 3, let h = app.hooks.first {
      throw .init(
        .failedPrecondition,
        "pod \(id): its stage1 (protocol level \(level), from an older liftoff) does not run hooks (\(h.label)); recreate the pod to use them")
    }
  }

  /// Adds an app (state `created`) to a running mutable pod.
  public func add(_ id: String, _ options: AppOptions) throws(LiftoffError) -> AppManifest {
    guard let name = options.name else { throw .invalidArgument("app add needs --name") }
    guard PodPreparer.isValidName(name) else { throw .invalidArgument("invalid app name \(name)") }
    let m0 = try runningMutablePod(id)
    return try withManifestLock(id, .run) {
      var m = try readForWriting(id, .run, adding: name)
      if m.app(named: name) != nil { throw LiftoffError(.alreadyExists, "pod \(id) already has an app \(name)") }
      let app = try PodPreparer(store: store).buildApp(
        name: name, options, flavor: m0.flavor, network: m0.network.mode, sharedPID: m.sharedPID)
      try PodPreparer.checkPIDTarget(app, among: m.apps + [app])
      try PodPreparer.checkImageVolumes([app], userNamespace: m.userNamespace != nil)
      try checkStage1Supports(app, pod: id)
      // A directory of an app pod.json does not list is what a killed `app add` (before pod.json) or
      // `app rm` (after it) left: the new app must not start from the old one's upper layer.
      let appDir = "\(store.path(.run, id))/apps/\(name)"
      if FileSystem.exists(appDir) {
        if let canonical = try? Mounts.canonical(appDir) { try Mounts.unmountAll(under: canonical) }
        try FileSystem.removeTree(appDir)
      }
      try PodPreparer(store: store).makeAppDirectory(app, flavor: m.flavor, podDir: store.path(.run, id), durable: false)
      FailPoint.hit(.appAddDirMade)
      m.apps.append(app)
      try writeManifest(m, id, .run)
      return app
    }
  }

  public func start(_ id: String, app: String) throws(LiftoffError) {
    let m = try runningMutablePod(id)
    // stage1 answers once the app's hooks ran (AppHook.swift): each is bound by its timeout.
    try UnixSocket.call(dir: "\(store.path(.run, id))/stage1", .startApp(name: app), timeoutSeconds: controlTimeout(m.app(named: app)))
      .check()
  }

  /// Stops an app (stop signal, SIGKILL after `timeoutSeconds`) and returns once it has exited.
  /// Stopping an app that is not running succeeds.
  public func stop(_ id: String, app: String, timeoutSeconds: Int) throws(LiftoffError) {
    let m = try runningMutablePod(id)
    guard m.app(named: app) != nil else { throw .notFound("pod \(id) has no app \(app)") }
    try UnixSocket.call(dir: "\(store.path(.run, id))/stage1", .stopApp(name: app, timeoutSeconds: timeoutSeconds)).check()
    // stage1 replaces state.json when it has reaped the app.
    var interval = PollInterval()
    let deadline = Date().addingTimeInterval(Double(timeoutSeconds) + 15)
    while Date() < deadline {
      if store.readAppState(id, at: .run, app: app)?.isRunning != true { return }
      interval.sleep()
    }
    throw .init(.deadlineExceeded, "app \(app) of pod \(id) did not exit")
  }

  /// Removes an app (stopping it at once if it runs): stage1 lets go of its rootfs and cgroup, then
  /// its directory leaves `apps/` (from then on the app is gone) and is deleted.
  public func remove(_ id: String, app: String) throws(LiftoffError) {
    guard let removed = try unlist(id, app: app) else { return }
    try Self.delete(removed)
  }

  /// `remove` up to its commit point: stage1 lets go of the app, then its directory is renamed from
  /// `apps/` into the pod's `removed/` (atomic, under the manifest lock). From then on no reader sees the
  /// app (PodManifest.withoutRemovedApps), and pod.json is not rewritten for it: its crash-safe rewrite
  /// (fsync, rename, the directory's fsync) was ~1 ms of each RemoveContainer. The entry goes with the
  /// next write of pod.json (`app add`, `app update`), which leaves out every such entry. The deletion
  /// of the directory (some 15 directories, ~1 ms; `delete`, given the path returned) is left to the
  /// caller: liftoff runs it after its answer (Stage0Command). What a killed one leaves goes with the
  /// pod's directory. nil: nothing is left to delete (a directory that could not be moved, being a mount
  /// point itself, was unlisted and deleted here).
  public func unlist(_ id: String, app: String) throws(LiftoffError) -> String? {
    guard let place = store.locate(id) else { throw .notFound("pod \(id) not found") }
    let m = try store.readManifest(id, at: place)
    guard m.app(named: app) != nil else { throw .notFound("pod \(id) has no app \(app)") }
    if place == .run && pods.isLocked(id, .run) {
      if store.readAppState(id, at: .run, app: app)?.isRunning == true { try stop(id, app: app, timeoutSeconds: 0) }
      try UnixSocket.call(dir: "\(store.path(.run, id))/stage1", .removeApp(name: app), timeoutSeconds: controlTimeout(m.app(named: app)))
        .check()
    }
    FailPoint.hit(.appRemoveReleased)
    return try withManifestLock(id, place) {
      let podDir = store.path(place, id)
      let appDir = "\(podDir)/apps/\(app)"
      // Listed above; its directory gone now: removed meanwhile. pod.json is not read again for the
      // rename (only the fallback below writes it).
      guard FileSystem.exists(appDir) else { return nil }
      let removedDir = "\(podDir)/removed"
      let removed = "\(removedDir)/\(app).\(Random.hex(bytes: 4))"
      // Mounts below it move with it.
      if (mkdir(removedDir, 0o700) == 0 || errno == EEXIST) && rename(appDir, removed) == 0 {
        FailPoint.hit(.appRemoveMoved)
        return removed
      }
      // It cannot be moved (EBUSY: the directory is itself a mount point): unlisted, then unmounted and
      // deleted here.
      var m = try readForWriting(id, place)
      m.apps.removeAll { $0.name == app }
      try writeManifest(m, id, place)
      if let canonical = try? Mounts.canonical(appDir) { try Mounts.unmountAll(under: canonical) }
      try FileSystem.removeTree(appDir)
      return nil
    }
  }

  /// Under the manifest lock, for a writer of pod.json: the pod's manifest as it stands (without the
  /// entries of apps `app rm` has taken away, which the write then leaves out). When one of those has
  /// the name of the app about to be added, pod.json is written without it first: the new app's
  /// directory would otherwise bring the old entry back to readers until pod.json lists the new one.
  func readForWriting(_ id: String, _ place: PodStore.Place, adding name: String? = nil) throws(LiftoffError) -> PodManifest {
    let file = try store.readManifestFile(id, at: place)
    let m = PodStore.standing(file, podDir: store.path(place, id))
    if let name, file.app(named: name) != nil, m.app(named: name) == nil { try writeManifest(m, id, place) }
    return m
  }

  func writeManifest(_ m: PodManifest, _ id: String, _ place: PodStore.Place) throws(LiftoffError) {
    do {
      try FileSystem.writeAtomically("\(store.path(place, id))/pod.json", m.json.serialized(pretty: true) + "\n")
    } catch {
      throw LiftoffError(.internal, "pod \(id): writing pod.json: \(error)")
    }
  }

  /// Deletes what `unlist` moved into `removed/`. A mount left below it (a fly app's, whose stage1 was
  /// killed) stops the deletion rather than being entered (FileSystem.removeTree): it is then unmounted
  /// and the deletion run again. Looking for mounts first (reading and parsing mountinfo) was ~1 ms of
  /// every removal, for the rare tree that has one.
  public static func delete(_ removed: String) throws(LiftoffError) {
    do {
      do { try FileSystem.removeTree(removed) } catch where error.errno == EBUSY {
        try Mounts.unmountAll(under: try Mounts.canonical(removed))
        try FileSystem.removeTree(removed)
      }
    } catch {
      throw LiftoffError(.internal, "deleting \(removed): \(error)")
    }
  }

  /// The control socket's usual 30 s, plus what the app's hooks may take (poststop runs when an app
  /// that was still running is removed).
  func controlTimeout(_ app: AppManifest?) -> Int { 30 + (app?.hookBudgetSeconds ?? 0) }

  public func reopenLog(_ id: String, app: String) throws(LiftoffError) {
    _ = try runningMutablePod(id)
    try UnixSocket.call(dir: "\(store.path(.run, id))/stage1", .reopenLog(name: app)).check()
  }

  public func list(_ id: String) throws(LiftoffError) -> [AppStatus] { try pods.status(id).apps }

  public func status(_ id: String, app: String) throws(LiftoffError) -> AppStatus {
    guard let a = try pods.status(id).apps.first(where: { $0.name == app }) else {
      throw .notFound("pod \(id) has no app \(app)")
    }
    return a
  }
}
