// Starting one app (stage2). The parent half prepares what needs the host's view (overlay rootfs,
// cgroup, the compiled seccomp program), forks, and learns over a CLOEXEC pipe whether the child
// reached execve: EOF means it did, bytes are the error of the step that failed.
//
// The child half (`childMain`) runs between fork and exec in a fresh PID and mount namespace
// (flavor `default`) or in the host's (flavor `fly`), and builds the app's world in this order:
//   oom_score_adj → mounts (/proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys, volumes,
//   masked and read-only paths) → pivot_root (fly: chroot) → read-only / → [user namespace pods:
//   rlimits, join the pod's user namespace (AppUserNamespace.swift)] → rlimits → working dir →
//   [seccomp, when no_new_privs is off: it needs CAP_SYS_ADMIN] → bounding set, groups/gid/uid,
//   capabilities → parent-death signal → no_new_privs → wait until stage1 has moved it into the
//   app's cgroup (done in parallel with all of the above) → signals → seccomp → execve.
import Glibc
import LiftoffCore
import LiftoffOS

struct AppLauncher {
  enum Outcome {
    /// `output` holds the read ends of the app's stdout and stderr pipes (or the pty's master, as
    /// stdout) when its output passes through stage1; `input` is this side of its stdin (the pipe's
    /// write end or a duplicate of the pty's master) for `stdin` apps; `pty` a duplicate of the
    /// master for window size changes.
    case started(pid: Int32, output: [(stream: String, fd: Int32)], input: Int32?, pty: Int32?)
    case failed(String, pid: Int32?)
  }

  /// The app's output goes through stage1 (to its log and to attached clients).
  var outputThroughStage1: Bool { app.logPath != nil || app.tty || app.stdin }

  let pod: PodManifest
  let app: AppManifest
  let appDir: String
  let cgroups: Cgroups
  /// For a `target` app: the process of the app whose PID namespace it joins (nil: not running).
  var targetPID: Int32?
  /// The host's mount namespace (opened by stage1 before it made its own), or -1: rshared volumes
  /// are cloned from there, to be peers of the host's mounts.
  var hostMountNamespace: Int32 = -1
  /// The pod's user namespace (held by stage1), or -1 (AppUserNamespace.swift).
  var userns: Int32 = -1
  let mountUserNamespaces = MountUserNamespaces()

  var rootfs: String { "\(appDir)/rootfs/merged" }
  /// The app's OCI hooks and their bundle (AppHooks.swift).
  var hooks: AppHooks { AppHooks(pod: pod, app: app, appDir: appDir) }
  /// The pod's directory (`<pod>/apps/<name>` is appDir).
  var podDir: String { FileSystem.parent(of: FileSystem.parent(of: appDir)) }

  /// Socket activation (liftoff run under systemd): descriptors 3… as stage0 found them, for this app only.
  var listenFDs: [Int32] { (0..<app.listenFDs).map { Int32(3 + $0) } }

  func launch() -> Outcome {
    var seccompProgram: [UInt8]?
    let hooks = self.hooks
    do {
      let upper = "\(appDir)/rootfs/upper"
      let work = "\(appDir)/rootfs/work"
      for d in [upper, work, rootfs] { try FileSystem.makeDirectories(d) }
      if app.mounts.contains(where: { $0.type == "image" }) { try FileSystem.makeDirectories(imageVolumeStaging) }
      try mountRootfs(upper: upper, work: work)
      FailPoint.hit(.appRootfsMounted)
      try makeMountUserNamespaces()
      try cgroups.create(pod: pod.id, app: app.name, resources: app.resources)
      if pod.flavor == .default {
        if let warning = try cgroups.restrictDevices(pod: pod.id, app: app.name, allowAll: app.security.privileged, extra: app.security.devices) {
          Stage1Log.error(warning)
        }
      }
      if pod.flavor == .default && app.seccomp != "unconfined" {
        seccompProgram = try FileSystem.readBytes("\(appDir)/seccomp.bpf")
      }
      if !app.hooks.isEmpty { try hooks.writeBundle() }
    } catch {
      _ = try? Mounts.unmount(rootfs)
      mountUserNamespaces.closeAll()
      return .failed("preparing: \(error)", pid: nil)
    }
    defer { mountUserNamespaces.closeAll() }
    if let closed = listenFDs.first(where: { fcntl($0, F_GETFD) < 0 }) {
      _ = try? Mounts.unmount(rootfs)
      return .failed("socket activation: descriptor \(closed) (LISTEN_FDS) is not open in stage1", pid: nil)
    }
    let pipe: (read: Int32, write: Int32)
    let go: (read: Int32, write: Int32)
    // stage1 moves the child into the app's cgroup while the child builds its mounts (the first
    // cgroup v1 attach waits for an RCU grace period, ~20 ms here): one byte when it is done.
    let joined: (read: Int32, write: Int32)
    var output: [(stream: String, read: Int32, write: Int32)] = []
    var pty: (master: Int32, slave: Int32)?
    // With its own devpts, the app opens its pty inside and sends the master back on this pair.
    var ptySockets: (parent: Int32, child: Int32)?
    var input: (read: Int32, write: Int32)?
    // The handshake that lets stage1 run hooks before pivot_root (AppHooks.swift); nil: no such hooks.
    var sync: AppHooks.Sync?
    let pid: Int32
    do {
      if hooks.needsSync { sync = try AppHooks.Sync.make() }
      if app.tty && pod.flavor == .default {
        let p = try Terminal.socketPair()
        ptySockets = (p.0, p.1)
      } else if app.tty {
        let p = try Terminal.openPair()
        pty = p
      } else if outputThroughStage1 {
        let o = try ProcessControl.pipe()
        let e = try ProcessControl.pipe()
        output = [("stdout", o.read, o.write), ("stderr", e.read, e.write)]
      }
      if app.stdin && !app.tty {
        let p = try ProcessControl.pipe()
        input = p
        Terminal.setNonBlocking(p.write)
      }
      pipe = try ProcessControl.pipe()
      go = try ProcessControl.pipe()
      joined = try ProcessControl.pipe()
      // Not Subprocess/liftoff_spawn (what every other spawn uses): the child joins or creates
      // namespaces (clone flags, setns into a target's PID namespace), then runs Swift to build the
      // rootfs, credentials, capabilities, seccomp and the sync with stage1 before its execve, none
      // of which posix_spawn can express. Safe only because stage1 is single-threaded.
      // A pod-shared PID namespace is stage1's pid_for_children already (Supervisor.startPodInit).
      let ownPID = app.security.pidNamespace == .container
      let namespaces: [Namespace] = pod.flavor == .default ? (ownPID ? [.pid, .mount] : [.mount]) : []
      if app.security.pidNamespace == .target {
        let target = app.security.pidTarget ?? ""
        guard let targetPID else { throw LiftoffError(.failedPrecondition, "its PID namespace target, app \(target), is not running") }
        pid = try Namespace.withPIDNamespace(of: targetPID) { () throws(SystemCallError) in try ProcessControl.fork(namespaces: namespaces) }
      } else {
        pid = try ProcessControl.fork(namespaces: namespaces)
      }
    } catch {
      for fd in (sync?.childEnds ?? []) + (sync?.parentEnds ?? []) { close(fd) }
      return .failed("starting: \(error)", pid: nil)
    }
    if pid == 0 {
      // Before anything else: not dumpable (nothing that later shares its PID namespace may ptrace
      // it or open its /proc/PID/{root,cwd,fd,exe}), and none of stage1's descriptors — the pod
      // directory's lock, the control socket, other apps' pipes — but the ones this child uses. A
      // host directory's descriptor that survived into the app would be a way out of its root
      // (runc CVE-2024-21626).
      ProcessControl.setDumpable(false)
      var keep: [Int32] = [pipe.write, go.read, joined.read, hostMountNamespace, userns] + listenFDs
      keep += output.map(\.write) + mountUserNamespaces.fds.values
      if let pty { keep.append(pty.slave) }
      if let input { keep.append(input.read) }
      if let ptySockets { keep.append(ptySockets.child) }
      if let sync { keep += sync.childEnds }
      ProcessControl.closeDescriptors(keeping: keep)
      _ = chdir("/")
      // Parent-death signal first, then wait for the parent's go: if stage1 died before the
      // signal was armed, the read sees EOF and the child leaves instead of living on orphaned.
      ProcessControl.setParentDeathSignal(SIGKILL)
      var byte: UInt8 = 0
      if read(go.read, &byte, 1) != 1 { _exit(127) }
      close(go.read)
      for (i, o) in output.enumerated() {
        dup2(o.write, Int32(i + 1))
        close(o.write)
      }
      if let pty {
        for fd: Int32 in 0...2 { dup2(pty.slave, fd) }
        close(pty.slave)
      }
      if let input {
        dup2(input.read, 0)
        close(input.read)
      }
      let failure = childMain(
        seccompProgram: seccompProgram, errorPipe: pipe.write, ptySocket: ptySockets?.child, joined: joined.read, sync: sync)
      let message = Array(failure.utf8.prefix(4000))
      try? FileSystem.writeAll(pipe.write, message)
      _exit(127)
    }
    close(pipe.write)
    close(go.read)
    for o in output { close(o.write) }
    if let pty {
      close(pty.slave)
      output = [("stdout", pty.master, -1)]
    }
    if let ptySockets { close(ptySockets.child) }
    if let input { close(input.read) }
    close(joined.read)
    if let sync {
      for fd in sync.childEnds { close(fd) }
      AppHooks.sendPID(sync, pid)
    }
    var one: UInt8 = 1
    _ = write(go.write, &one, 1)
    close(go.write)
    var cgroupError: String?
    do {
      try cgroups.enter(pod: pod.id, app: app.name, pid: pid)
      _ = write(joined.write, &one, 1)
    } catch {
      cgroupError = "cgroup: \(error)"
    }
    close(joined.write)
    // prestart and createRuntime hooks, once the app's mounts exist (a failure kills the child).
    let hookFailure = sync.flatMap { cgroupError == nil ? hooks.parentSync($0, pid: pid) : nil }
    if let sync, cgroupError != nil { for fd in sync.parentEnds { close(fd) } }
    var report: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buf.withUnsafeMutableBytes { read(pipe.read, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { break }
      report.append(contentsOf: buf[0..<n])
    }
    close(pipe.read)
    if let cgroupError {
      report = Array(cgroupError.utf8)
    }
    if let hookFailure {
      report = Array("hooks: \(hookFailure)".utf8)
    }
    if !report.isEmpty {
      for o in output { close(o.read) }
      if let input { close(input.write) }
      if let ptySockets { close(ptySockets.parent) }
      return .failed(String(decoding: report, as: UTF8.self), pid: pid)
    }
    if let ptySockets {
      // The app sent its pty's master before it exec'ed: it is queued on the socket.
      defer { close(ptySockets.parent) }
      do {
        let master = try Terminal.receive(from: ptySockets.parent)
        Terminal.setNonBlocking(master)
        pty = (master, -1)
        output = [("stdout", master, -1)]
      } catch {
        kill(pid, SIGKILL)
        if let input { close(input.write) }
        return .failed("terminal: \(error)", pid: pid)
      }
    }
    // The pty's master serves three owners (the log's reader, stdin, resize): each gets its own fd.
    var stdinFD = input?.write
    var ptyFD: Int32?
    if let pty {
      ptyFD = Terminal.duplicate(pty.master)
      if app.stdin { stdinFD = Terminal.duplicate(pty.master) }
    }
    return .started(pid: pid, output: output.map { ($0.stream, $0.read) }, input: stdinFD, pty: ptyFD)
  }


  // MARK: the child, between fork and exec

  /// Returns only on failure, with what went wrong.
  func childMain(seccompProgram: [UInt8]?, errorPipe: Int32, ptySocket: Int32?, joined: Int32, sync: AppHooks.Sync?) -> String {
    var step = "setup"
    // The app's pid as stage1 (the host) sees it, for the hooks' state.
    var hostPID: Int32?
    let hooks = self.hooks  // resolved once, before pivot_root hides the host's paths
    do {
      step = "parent-death signal"
      ProcessControl.setParentDeathSignal(SIGKILL)
      if !app.interactive { _ = setsid() }
      if app.tty && ptySocket == nil {
        step = "controlling terminal"
        try Terminal.makeControlling(0)
      }
      if let adj = app.oomScoreAdj {
        step = "oom_score_adj"
        try ProcessControl.setOOMScoreAdj(adj)
      }
      step = "rootfs"
      // The overlay stage1 mounted, opened in this mount namespace: every path inside it is resolved
      // from this descriptor and every mount attached to a descriptor (LiftoffOS/Rootfs.swift).
      let root = try Rootfs(path: rootfs)
      switch pod.flavor {
      case .default:
        step = "mounts"
        try Mounts.setPropagation("/", .rslave)
        if !app.security.sysctls.isEmpty {
          // Written from here, the calling process's IPC and network namespaces (the pod's) are set.
          step = "sysctls"
          for (key, value) in app.security.sysctls.sorted(by: { $0.key < $1.key }) {
            try FileSystem.writeControl(AppSecurity.sysctlPath(key), value)
          }
          step = "mounts"
        }
        try mountSystemFileSystems(root)
        try makeDevices(root)
        try mountVolumes(root)
        try mountNotifySocket(root)
        try mountNetworkFiles(root)
        try maskPaths(root)
        if let sync {
          step = "hooks"
          hostPID = try hooks.childSync(sync)
        }
        step = "pivot_root"
        try Mounts.pivotRoot(root.fd, path: rootfs)
        if app.readOnlyRootfs {
          step = "read-only rootfs"
          try Rootfs.setAttributes(try Rootfs(path: "/").fd, .readOnly, recursive: false, what: "/")
        }
      case .fly:
        step = "mounts"
        for d in ["/dev", "/proc", "/sys"] { try root.bind(d, at: d) }
        try mountVolumes(root)
        try mountNotifySocket(root)
        if let sync {
          step = "hooks"
          hostPID = try hooks.childSync(sync)
        }
        step = "chroot"
        guard fchdir(root.fd.raw) == 0, chroot(".") == 0 else { throw SystemCallError("chroot", errno: errno, path: rootfs) }
      }
      if userNamespace != nil {
        step = "user namespace"
        try enterUserNamespace()
      }
      if let ptySocket {
        // Inside the container's root: its own /dev/ptmx, so the app's terminal is one of its /dev/pts.
        step = "terminal"
        let (master, slave) = try Terminal.openPair(ptmx: "/dev/ptmx")
        _ = fchown(slave, app.user.uid, gid_t.max)
        for fd: Int32 in 0...2 { dup2(slave, fd) }
        if slave > 2 { close(slave) }
        try Terminal.makeControlling(0)
        try Terminal.send(master, over: ptySocket)
        close(master)
        close(ptySocket)
      }
      // Nothing from the host's side is needed any more (namespace descriptors, the terminal socket).
      ProcessControl.closeDescriptors(keeping: [errorPipe, joined] + listenFDs)
      step = "rlimits"
      if userNamespace == nil {
        for r in app.rlimits { try ProcessControl.setRlimit(r) }
      }
      step = "working directory"
      try enterWorkingDirectory()
      // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we still hold it
      // (runc does the same); the profile must then allow the few calls left before execve.
      if let seccompProgram, !app.noNewPrivileges {
        step = "seccomp"
        try Seccomp.load(seccompProgram)
      }
      step = "capabilities"
      let caps = try Capabilities.mask(pod.flavor == .fly ? Capabilities.names : app.capabilities)
      if pod.flavor == .default { try Capabilities.limitBoundingSet(to: caps) }
      step = "user"
      try ProcessControl.setCredentials(app.user)
      if pod.flavor == .default {
        // Never ask for more than we hold (root here lacks CAP_SYS_RESOURCE, for one).
        step = "capabilities"
        try Capabilities.apply(caps & Capabilities.currentPermitted(), ambient: try Capabilities.mask(app.ambientCapabilities))
      }
      ProcessControl.setParentDeathSignal(SIGKILL)  // cleared by the uid change
      ProcessControl.setDumpable(false)  // so is this, by a uid change to non-root and back
      if app.noNewPrivileges && pod.flavor == .default {
        step = "no_new_privs"
        try ProcessControl.setNoNewPrivileges()
      }
      if !app.interactive && !app.tty && !app.stdin {
        step = "stdin"
        let fd = open("/dev/null", O_RDONLY)
        if fd >= 0 && fd != 0 {
          dup2(fd, 0)
          close(fd)
        }
      }
      step = "cgroup"
      var byte: UInt8 = 0
      var n = 0
      repeat { n = read(joined, &byte, 1) } while n < 0 && errno == EINTR
      guard n == 1 else { return "cgroup: stage1 could not move the app into its cgroup" }
      ProcessControl.closeDescriptors(keeping: [errorPipe] + listenFDs)
      // Inside the container, as the app's user with its capabilities, in its cgroup: right before execve.
      if let failure = hooks.run([.startContainer], pid: hostPID, cwd: nil) { return "hooks: \(failure)" }
      var env = app.env
      if !listenFDs.isEmpty {
        // Socket activation: exactly the descriptors systemd passed, at the numbers it passed them
        // (stage1 never closed them, so nothing else took 3…), open across the exec.
        step = "socket activation"
        for fd in listenFDs where fcntl(fd, F_SETFD, 0) != 0 { throw SystemCallError("fcntl", errno: errno) }
        env = env.filter { !$0.hasPrefix("LISTEN_FDS=") && !$0.hasPrefix("LISTEN_PID=") && !$0.hasPrefix("LISTEN_FDNAMES=") }
        env += ["LISTEN_FDS=\(listenFDs.count)", "LISTEN_PID=\(getpid())"]
        if let names = app.listenFDNames { env.append("LISTEN_FDNAMES=\(names)") }
      }
      if pod.notifySocket != nil {
        env = env.filter { !$0.hasPrefix("NOTIFY_SOCKET=") } + ["NOTIFY_SOCKET=\(NotifyRelay.containerSocket)"]
      }
      ProcessControl.resetSignals()
      if let seccompProgram, app.noNewPrivileges {
        step = "seccomp"
        try Seccomp.load(seccompProgram)
      }
      step = "exec"
      let e = ProcessControl.exec(app.exec, env: env)
      return "exec \(app.exec[0]): \(errnoDescription(e.errno))"
    } catch {
      return "\(step): \(error)"
    }
  }

  /// The app's working directory, resolved inside its root (we are in it now: pivot_root or chroot)
  /// and made (owned by the app's user) when missing. A directory under /proc is refused: its magic
  /// links lead outside the root. After the chdir the kernel must still see the directory inside the
  /// root (getcwd fails with ENOENT for a directory outside it, as runc checks).
  func enterWorkingDirectory() throws {
    let dir = app.workingDir
    let parts = dir.split(separator: "/").filter { $0 != "." }
    if parts.first == "proc" {
      throw LiftoffError.invalidArgument("app \(app.name): working directory \(dir) is under /proc")
    }
    let root = try Rootfs(path: "/")
    let created = try root.fileType(dir) == nil
    let d = try root.makeDirectories(dir)
    if created { try Rootfs.chown(d, uid: app.user.uid, gid: app.user.gid) }
    guard fchdir(d.raw) == 0 else { throw SystemCallError("chdir", errno: errno, path: dir) }
    var buf = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buf, buf.count) != nil, buf[0] == CChar(UInt8(ascii: "/")) else {
      throw LiftoffError.invalidArgument("app \(app.name): working directory \(dir) is outside the container's root")
    }
  }

  func mountSystemFileSystems(_ root: Rootfs) throws {
    try root.mountFilesystem("proc", at: "/proc", attributes: [.noSUID, .noDev, .noExec])
    try root.mountFilesystem("tmpfs", at: "/dev", options: "mode=755,size=65536k\(rootOwnerMountOptions)", attributes: [.noSUID, .strictAtime])
    let devices: [(String, UInt32, UInt32)] = [
      ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
    ]
    for (name, major, minor) in devices {
      try root.makeDevice("/dev/\(name)", block: false, mode: 0o666, major: major, minor: minor, uid: hostUID(0), gid: hostGID(0))
    }
    for (name, target) in [
      ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
      ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"),
    ] {
      try root.makeSymlink("/dev/\(name)", to: target)
    }
    try root.mountFilesystem(
      "devpts", at: "/dev/pts", options: "newinstance,ptmxmode=0666,mode=0620,gid=\(hostGID(5))", attributes: [.noSUID, .noExec])
    if pod.hostIPC {
      // The host's IPC namespace: its POSIX shared memory too.
      try root.bind("/dev/shm", at: "/dev/shm")
    } else {
      try root.mountFilesystem("tmpfs", at: "/dev/shm", source: "shm", options: "mode=1777,size=65536k\(rootOwnerMountOptions)", attributes: [.noSUID, .noDev, .noExec])
    }
    try root.mountFilesystem("mqueue", at: "/dev/mqueue", attributes: [.noSUID, .noDev, .noExec])

    // A sysfs of our own, also for a pod in the host's network namespace (it shows that namespace's
    // devices): never the host's /sys with its writable submounts (cgroup, bpf, debugfs).
    let privileged = app.security.privileged
    try root.mountFilesystem("sysfs", at: "/sys", attributes: privileged ? [.noSUID, .noDev, .noExec] : [.noSUID, .noDev, .noExec, .readOnly])
    try mountCgroups(root)
  }

  /// /sys/fs/cgroup: the app's own groups, read-only (a tmpfs with one directory per v1 controller,
  /// each the app's group of that hierarchy; on v2 the app's unified group), as runc gives a
  /// container. A privileged app gets the host's hierarchies, writable.
  func mountCgroups(_ root: Rootfs) throws {
    let target = "/sys/fs/cgroup"
    if app.security.privileged {
      let tree = try Rootfs.clone(cgroups.root, recursive: true)
      try Rootfs.attach(tree, onto: try root.open(target), what: target)
      return
    }
    switch cgroups.version {
    case .v2:
      let group = cgroups.directory("", pod: pod.id, app: app.name)
      let tree = try Rootfs.clone(group, recursive: true)
      try Rootfs.setAttributes(tree, [.readOnly, .noSUID, .noDev, .noExec], recursive: true, what: group)
      try Rootfs.attach(tree, onto: try root.open(target), what: target)
    case .v1:
      let tmpfs = try Rootfs.newFilesystem("tmpfs", source: "cgroup", options: "mode=755", attributes: [.noSUID, .noDev, .noExec])
      try Rootfs.attach(tmpfs, onto: try root.open(target), what: target)
      for controller in cgroups.controllers {
        let group = cgroups.directory(controller, pod: pod.id, app: app.name)
        guard FileSystem.isDirectory(group) else { continue }
        let mountPoint = try root.makeDirectories("\(target)/\(controller)")
        let tree = try Rootfs.clone(group, recursive: true)
        try Rootfs.setAttributes(tree, [.readOnly, .noSUID, .noDev, .noExec], recursive: true, what: group)
        try Rootfs.attach(tree, onto: mountPoint, what: "\(target)/\(controller)")
      }
      try Rootfs.setAttributes(tmpfs, .readOnly, recursive: false, what: target)
    }
  }

  /// The app's `--device` nodes, and for a privileged app every device node of the host's /dev
  /// (not its pts, shm or mqueue mounts), with their modes and owners.
  func makeDevices(_ root: Rootfs) throws {
    if app.security.privileged {
      func copy(_ dir: String) throws {
        for name in (try? FileSystem.list(dir)) ?? [] {
          let host = "\(dir)/\(name)"
          if ["/dev/pts", "/dev/shm", "/dev/mqueue"].contains(host) { continue }
          var st = stat()
          guard lstat(host, &st) == 0 else { continue }
          let kind = st.st_mode & S_IFMT
          if kind == S_IFDIR {
            try copy(host)
          } else if kind == S_IFCHR || kind == S_IFBLK {
            if try root.fileType(host) != nil { continue }
            try root.makeDevice(
              host, block: kind == S_IFBLK, mode: st.st_mode & 0o7777, major: FileSystem.major(st.st_rdev),
              minor: FileSystem.minor(st.st_rdev), uid: st.st_uid, gid: st.st_gid)
          }
        }
      }
      try copy("/dev")
    }
    for d in app.security.devices {
      try root.makeDevice(
        d.path, block: d.type == "b", mode: mode_t(d.fileMode), major: d.major, minor: d.minor, uid: hostUID(d.uid), gid: hostGID(d.gid))
    }
  }

  func mountVolumes(_ root: Rootfs) throws {
    for m in app.mounts {
      let what = "app \(app.name): mount \(m.destination)"
      switch m.type {
      case "tmpfs":
        try root.mountFilesystem("tmpfs", at: m.destination, options: m.data ?? "", attributes: m.readOnly ? [.noSUID, .noDev, .readOnly] : [.noSUID, .noDev])
      case "bind":
        let target = try root.makeMountPoint(m.destination, directory: FileSystem.isDirectory(m.source))
        let tree = try volumeTree(m)
        if m.recursiveReadOnly || m.readOnly {
          // Read-only on the volume's own mount only, unless recursive read-only was asked for: a
          // mount below it (a tmpfs the host put there) stays as it is.
          try Rootfs.setAttributes(tree, .readOnly, recursive: m.recursiveReadOnly, what: what)
        }
        if !m.flags.isEmpty {
          var attributes: MountAttributes = []
          if m.flags.contains("nosuid") { attributes.insert(.noSUID) }
          if m.flags.contains("nodev") { attributes.insert(.noDev) }
          if m.flags.contains("noexec") { attributes.insert(.noExec) }
          try Rootfs.setAttributes(tree, attributes, recursive: true, what: what)
        }
        try Rootfs.attach(tree, onto: target, what: what)
        try Rootfs.setPropagation(tree, m.propagation, what: what)
      case "image":
        let tree = try imageVolumeTree(m, what: what)
        try Rootfs.attach(tree, onto: try root.makeMountPoint(m.destination, directory: true), what: what)
        try Rootfs.setPropagation(tree, .rprivate, what: what)
      default:
        throw LiftoffError.invalidArgument("\(what): unknown type \(m.type)")
      }
    }
  }

  /// Where the child mounts an image volume's layers for a moment, in its own mount namespace.
  var imageVolumeStaging: String { "\(appDir)/rootfs/image-volume" }

  /// An image volume, detached: the image's layers (an overlay of them as lower dirs only, or the one
  /// layer itself) mounted on the staging directory in this child's mount namespace, its sub path
  /// opened beneath that root (openat2 RESOLVE_BENEATH: a `..` or absolute symlink that would leave the
  /// image fails with EXDEV, as containerd refuses it), cloned, and made read-only, noexec, nosuid and
  /// nodev on every mount of the clone. The staging mount is gone again when this returns.
  func imageVolumeTree(_ m: AppMount, what: String) throws -> OwnedDescriptor {
    guard let image = m.image, !image.layerDirs.isEmpty else { throw LiftoffError.invalidArgument("\(what): an image mount without an image") }
    guard userNamespace == nil else {
      throw LiftoffError(.unimplemented, "\(what): image volumes in a pod with a user namespace are not supported yet")
    }
    let attributes: MountAttributes = [.readOnly, .noSUID, .noDev, .noExec]
    if image.layerDirs.count == 1 {
      try Rootfs.attach(
        try Rootfs.clone(image.layerDirs[0], recursive: false), onto: try Rootfs(path: imageVolumeStaging).fd,
        what: "\(what): image \(image.name)")
    } else {
      // Without an upper dir, overlayfs needs two lower dirs at least; `lowerdir=` lists the top first.
      // mount(2) on stage0's own directory: fsconfig(2) refuses this lowerdir list here (EINVAL on 6.18).
      try Mounts.mount(
        "overlay", imageVolumeStaging, type: "overlay", flags: UInt(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC),
        data: "lowerdir=" + image.layerDirs.reversed().joined(separator: ":"))
    }
    defer { _ = try? Mounts.unmount(imageVolumeStaging) }
    let volume = try Rootfs(path: imageVolumeStaging)
    let dir: OwnedDescriptor
    do { dir = try volume.openStrictlyBeneath(m.subPath ?? ".", flags: O_PATH | O_DIRECTORY) } catch {
      throw LiftoffError.invalidArgument("\(what): sub path \(m.subPath ?? ".") of image \(image.name): \(error)")
    }
    let tree = try Rootfs.clone(dir, recursive: false, what: what)
    try Rootfs.setAttributes(tree, attributes, recursive: true, what: what)
    return tree
  }

  /// A volume's mount, detached, to attach in the rootfs: a clone of the host path as the host's own
  /// mount namespace has it now (stage1's is a copy made when the pod started: mounts the host made
  /// since then reach it only where the host's mount propagates, and on a node whose / is private —
  /// no systemd — never). The clone joins the host mount's peer group when that one is shared; the
  /// volume's propagation, set after it is attached, then makes it private, a slave (receives) or
  /// shared (both ways). stage0 checked that the host mount propagates as asked
  /// (PodPreparer.checkPropagation). Idmapped volumes are cloned from stage1's view.
  func volumeTree(_ m: AppMount) throws -> OwnedDescriptor {
    if m.isIDMapped {
      guard let i = app.mounts.firstIndex(of: m), let fd = mountUserNamespaces.fds[i] else {
        throw LiftoffError(.internal, "app \(app.name): mount \(m.destination): no user namespace for its idmapping")
      }
      return try UserNamespace.idmappedClone(m.source, userns: fd, recursive: true)
    }
    if pod.flavor == .default, hostMountNamespace >= 0 {
      return try Mounts.cloneFromNamespace(hostMountNamespace, m.source)
    }
    return try Rootfs.clone(m.source, recursive: true)
  }

  /// sd_notify (NotifyRelay): the app's own socket directory from stage1, at /run/notify, nosuid,
  /// nodev, noexec; made by descriptor like every volume.
  func mountNotifySocket(_ root: Rootfs) throws {
    guard pod.notifySocket != nil else { return }
    let what = "app \(app.name): \(NotifyRelay.containerDirectory)"
    let tree = try Rootfs.clone(NotifyRelay.directory(podDir: podDir, app: app.name), recursive: false)
    try Rootfs.setAttributes(tree, [.noSUID, .noDev, .noExec], recursive: false, what: what)
    try Rootfs.attach(tree, onto: try root.makeMountPoint(NotifyRelay.containerDirectory, directory: true), what: what)
  }

  /// The pod's resolv.conf, hosts and hostname (written by stage0 into `<pod dir>/network/`: for a CNI
  /// pod, and a host-network pod's resolv.conf from its DNS config or the host's), bound read-only
  /// over the app's /etc files, where stage0 wrote them. A symlink there is replaced by a file in the app's
  /// own upper layer (everything resolved inside the rootfs), so nothing outside it is touched.
  func mountNetworkFiles(_ root: Rootfs) throws {
    guard pod.network.mode != .none else { return }
    let filesDir = podDir + "/network"
    if let type = try root.fileType("/etc"), type != S_IFDIR {
      throw LiftoffError.invalidArgument("app \(app.name): /etc in its image is not a directory")
    }
    let etc = try root.makeDirectories("/etc")
    for name in ["resolv.conf", "hosts", "hostname"] {
      let source = "\(filesDir)/\(name)"
      guard FileSystem.exists(source) else { continue }
      var st = stat()
      if fstatat(etc.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && (st.st_mode & S_IFMT) != S_IFREG {
        guard (st.st_mode & S_IFMT) != S_IFDIR, unlinkat(etc.raw, name, 0) == 0 else {
          throw LiftoffError.invalidArgument("app \(app.name): /etc/\(name) in its image is not a file")
        }
      }
      _ = try Rootfs.openIn(etc, name, flags: O_WRONLY | O_CREAT, mode: 0o644)
      let target = try Rootfs.openIn(etc, name, flags: O_PATH)
      let tree = try Rootfs.clone(source, recursive: false)
      try Rootfs.setAttributes(tree, .readOnly, recursive: false, what: source)
      try Rootfs.attach(tree, onto: target, what: "/etc/\(name)")
    }
  }

  /// Masked paths: a read-only empty tmpfs over a directory, a read-only clone of the host's
  /// /dev/null (checked to be char 1:3 through its descriptor) over anything else. The source never
  /// comes from inside the rootfs, where a volume or symlink could put a host file in its place.
  func maskPaths(_ root: Rootfs) throws {
    var null: OwnedDescriptor?
    for p in app.maskedPaths {
      guard let target = try root.openIfPresent(p) else { continue }
      var st = stat()
      guard fstat(target.raw, &st) == 0 else { throw SystemCallError("stat", errno: errno, path: p) }
      if (st.st_mode & S_IFMT) == S_IFDIR {
        let fs = try Rootfs.newFilesystem("tmpfs", options: "size=0", attributes: [.readOnly, .noSUID, .noDev, .noExec])
        try Rootfs.attach(fs, onto: target, what: p)
      } else {
        if null == nil { null = try Rootfs.hostNullDevice() }
        let tree = try Rootfs.clone(null!, recursive: false, what: "/dev/null")
        try Rootfs.setAttributes(tree, [.readOnly, .noSUID, .noExec], recursive: false, what: "/dev/null")
        try Rootfs.attach(tree, onto: target, what: p)
      }
    }
    for p in app.readonlyPaths { try root.makeReadOnly(p) }
  }
}
