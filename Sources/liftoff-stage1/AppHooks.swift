// An app's OCI hooks (LiftoffCore/AppHook.swift), run where runtime-spec 1.2.0 says:
//
//   stage1 (parent)                          app process (child, AppLauncher.childMain)
//   bundle/config.json written
//   fork ───────────────────────────────────▶ mounts in its mount namespace
//   pid (4 bytes) on `resume` ──────────────▶ read at the sync point, before pivot_root
//                          ◀──────────────── one byte on `ready`
//   prestart, createRuntime hooks (host
//   namespaces, cwd the bundle)
//   one byte on `resume` ───────────────────▶ createContainer hooks (its mount namespace: host paths
//     (or SIGKILL and a failed start)          and the mounted rootfs visible; cwd the bundle)
//                                            pivot_root … credentials, capabilities, no_new_privs
//                                            startContainer hooks (inside, as the app's user)
//                                            execve
//   poststart hooks (after the start)
//   poststop hooks (after the app was reaped, or its start failed)
//
// Each hook gets the container's state on stdin; a failure of the first four kinds fails the start
// with a message naming the hook, its path and how it ended; poststart/poststop failures are logged.
// The bundle: `<app dir>/bundle/config.json`, a minimal OCI config (written atomically each time the
// app starts) for hooks that read it, as NVIDIA's nvidia-cdi-hook does:
//   ociVersion, root {path: the rootfs's absolute host path, readonly}, process {terminal, user {uid,
//   gid, additionalGids}, args, env, cwd, noNewPrivileges}, hostname, mounts [{destination, type,
//   source, options}] (bind and tmpfs volumes, the CDI ones among them; image volumes are left out),
//   linux {devices [{path, type, major, minor, fileMode, uid, gid}]}, annotations.
import Glibc
import LiftoffCore
import LiftoffOS

struct AppHooks {
  let pod: PodManifest
  let app: AppManifest
  /// The app's directory, canonical (absolute, no symlinks): what the state's `bundle` and
  /// `root.path` are made of.
  let appDir: String

  init(pod: PodManifest, app: AppManifest, appDir: String) {
    self.pod = pod
    self.app = app
    self.appDir = (try? Mounts.canonical(appDir)) ?? appDir
  }

  var bundle: String { "\(appDir)/bundle" }
  var rootfs: String { "\(appDir)/rootfs/merged" }

  func hooks(_ stages: Set<AppHook.Stage>) -> [AppHook] { app.hooks.filter { stages.contains($0.stage) } }
  var isEmpty: Bool { app.hooks.isEmpty }
  /// Whether the app's process must stop before pivot_root and let stage1 run hooks.
  var needsSync: Bool { !hooks([.prestart, .createRuntime, .createContainer, .startContainer]).isEmpty }

  // MARK: bundle

  func writeBundle() throws {
    var mounts: [JSON] = []
    for m in app.mounts {
      switch m.type {
      case "bind":
        var options = ["rbind", m.readOnly ? "ro" : "rw", m.propagation.rawValue] + m.flags
        if m.recursiveReadOnly { options.append("rro") }
        mounts.append(.obj([("destination", .string(m.destination)), ("type", .string("bind")), ("source", .string(m.source)), ("options", .strs(options))]))
      case "tmpfs":
        let options = ["nosuid", "nodev", m.readOnly ? "ro" : "rw"] + (m.data ?? "").split(separator: ",").map(String.init)
        mounts.append(.obj([("destination", .string(m.destination)), ("type", .string("tmpfs")), ("source", .string("tmpfs")), ("options", .strs(options))]))
      default: continue
      }
    }
    let devices: [JSON] = app.security.devices.map { d in
      .obj([
        ("path", .string(d.path)), ("type", .string(d.type)), ("major", JSON(integer: d.major)), ("minor", JSON(integer: d.minor)),
        ("fileMode", JSON(integer: d.fileMode)), ("uid", JSON(integer: d.uid)), ("gid", JSON(integer: d.gid)),
      ])
    }
    let config = JSON.obj([
      ("ociVersion", .string(OCIState.ociVersion)),
      ("root", .obj([("path", .string(rootfs)), ("readonly", .bool(app.readOnlyRootfs))])),
      ("process", .obj([
        ("terminal", .bool(app.tty)),
        ("user", .obj([
          ("uid", JSON(integer: app.user.uid)), ("gid", JSON(integer: app.user.gid)),
          ("additionalGids", .array(app.user.additionalGids.map { JSON(integer: $0) })),
        ])),
        ("args", .strs(app.exec)), ("env", .strs(app.env)), ("cwd", .string(app.workingDir)),
        ("noNewPrivileges", .bool(app.noNewPrivileges)),
      ])),
      ("hostname", .string(pod.hostname)),
      ("mounts", .array(mounts)),
      ("linux", .obj([("devices", .array(devices))])),
      ("annotations", .map(app.annotations)),
    ])
    try FileSystem.makeDirectories(bundle)
    try FileSystem.writeAtomically("\(bundle)/config.json", config.serialized(pretty: true) + "\n", mode: 0o600)
  }

  // MARK: running

  func state(_ stage: AppHook.Stage, pid: Int32?) -> [UInt8] {
    Array(OCIState.json(id: app.name, status: stage.status, pid: pid, bundle: bundle, annotations: app.annotations).serialized().utf8)
  }

  /// Runs the hooks of `stages` in order and stops at the first that fails: its description, or nil
  /// when all succeeded. `cwd` nil: the caller's working directory (inside the container).
  func run(_ stages: Set<AppHook.Stage>, pid: Int32?, cwd: String?) -> String? {
    for h in hooks(stages) {
      let outcome = HookProcess.run(
        path: h.path, argv: h.argv, env: h.env, stdin: state(h.stage, pid: pid), cwd: cwd, timeoutSeconds: h.bound)
      if !outcome.succeeded { return "\(h.label) \(outcome.describe(timeoutSeconds: h.bound))" }
    }
    return nil
  }

  /// poststart and poststop: every hook runs; failures are logged.
  func runLogged(_ stage: AppHook.Stage, pid: Int32?) {
    for h in hooks([stage]) {
      let outcome = HookProcess.run(path: h.path, argv: h.argv, env: h.env, stdin: state(stage, pid: pid), cwd: bundle, timeoutSeconds: h.bound)
      if !outcome.succeeded { Stage1Log.error("app \(app.name): \(h.label) \(outcome.describe(timeoutSeconds: h.bound))") }
    }
  }

  // MARK: the handshake with the app's process (see the diagram above)

  /// The two pipes of the handshake: `ready` (child → stage1), `resume` (stage1 → child).
  struct Sync {
    var ready: (read: Int32, write: Int32)
    var resume: (read: Int32, write: Int32)
    static func make() throws(SystemCallError) -> Sync {
      let a = try ProcessControl.pipe()
      do { return Sync(ready: a, resume: try ProcessControl.pipe()) } catch {
        close(a.read)
        close(a.write)
        throw error
      }
    }
    var childEnds: [Int32] { [ready.write, resume.read] }
    var parentEnds: [Int32] { [ready.read, resume.write] }
  }

  /// stage1's half, right after the fork: the app's host pid for the hooks' state.
  static func sendPID(_ sync: Sync, _ pid: Int32) {
    var p = pid
    _ = withUnsafeBytes(of: &p) { write(sync.resume.write, $0.baseAddress, 4) }
  }

  /// stage1's half, once the app is in its cgroup: waits until the app's mounts exist, runs the
  /// prestart and createRuntime hooks, and lets it go on. nil: go on (or the child failed before the
  /// sync point, and its error pipe says why); else the failure, and the child was killed.
  func parentSync(_ sync: Sync, pid: Int32) -> String? {
    defer { for fd in sync.parentEnds { close(fd) } }
    var byte: UInt8 = 0
    var n: Int
    repeat { n = read(sync.ready.read, &byte, 1) } while n < 0 && errno == EINTR
    guard n == 1 else { return nil }
    if let failure = run([.prestart, .createRuntime], pid: pid, cwd: bundle) {
      kill(pid, SIGKILL)
      return failure
    }
    var one: UInt8 = 1
    _ = write(sync.resume.write, &one, 1)
    return nil
  }

  /// The child's half, before pivot_root: the host pid, the handshake, the createContainer hooks.
  /// Returns the host pid of the app's process (for startContainer's state).
  func childSync(_ sync: Sync) throws -> Int32 {
    var pid: Int32 = 0
    let got = withUnsafeMutableBytes(of: &pid) { readFully(sync.resume.read, $0.baseAddress!, 4) }
    guard got else { throw LiftoffError(.aborted, "stage1 did not send the app's pid") }
    var one: UInt8 = 1
    guard write(sync.ready.write, &one, 1) == 1 else { throw SystemCallError("write", errno: errno) }
    var byte: UInt8 = 0
    // EOF: stage1 failed a createRuntime hook (and kills us) or died.
    guard readFully(sync.resume.read, &byte, 1) else { throw LiftoffError(.aborted, "stage1 stopped the start (createRuntime hook)") }
    close(sync.ready.write)
    close(sync.resume.read)
    if let failure = run([.createContainer], pid: pid, cwd: bundle) { throw LiftoffError(.failedPrecondition, failure) }
    return pid
  }

  private func readFully(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ count: Int) -> Bool {
    var done = 0
    while done < count {
      let n = read(fd, p + done, count - done)
      if n < 0 && errno == EINTR { continue }
      if n <= 0 { return false }
      done += n
    }
    return true
  }
}
