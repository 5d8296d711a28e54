// sd_notify for `liftoff run` in a `Type=notify` unit (PodManifest.notifySocket). stage1 is the unit's
// main process (liftoff execs it), so systemd takes notifications from stage1 only (NotifyAccess=main).
// Each app gets a datagram socket of its own, `<pod>/stage1/notify/<app>/notify.sock`, bound into its
// rootfs at /run/notify (nosuid, nodev, noexec) with NOTIFY_SOCKET=/run/notify/notify.sock; the host's
// socket is never visible to it. stage1 relays:
//
//   app ── "READY=1\nSTATUS=up\nMAINPID=7" ──▶ stage1 ── "STATUS=up" (+ "READY=1" once every app said it) ──▶ systemd
//
// Only STATUS, STOPPING, RELOADING, MONOTONIC_USEC, WATCHDOG, WATCHDOG_USEC, EXTEND_TIMEOUT_USEC,
// ERRNO and BUSERROR pass; MAINPID (an app's pid means nothing to systemd; stage1 is the main PID),
// FDSTORE (no descriptor crosses) and anything else are dropped. A datagram larger than 4 KiB is dropped.
import Glibc
import LiftoffCore
import LiftoffOS

final class NotifyRelay {
  static let containerDirectory = "/run/notify"
  static let containerSocket = "/run/notify/notify.sock"
  static let passed: Set<String> = [
    "STATUS", "STOPPING", "RELOADING", "MONOTONIC_USEC", "WATCHDOG", "WATCHDOG_USEC", "EXTEND_TIMEOUT_USEC",
    "ERRNO", "BUSERROR",
  ]

  let systemd: SystemdNotify
  /// The apps' sockets: descriptor → app name.
  private(set) var sockets: [Int32: String] = [:]
  private var ready: Set<String> = []
  private var apps: Set<String>
  private var saidReady = false
  private var loggedFailure = false

  /// The directory holding an app's socket (what is bound at /run/notify in its rootfs).
  static func directory(podDir: String, app: String) -> String { "\(podDir)/stage1/notify/\(app)" }

  init(address: String, podDir: String, apps: [String]) throws {
    systemd = SystemdNotify(address: address)
    self.apps = Set(apps)
    do {
      for app in apps {
        let dir = Self.directory(podDir: podDir, app: app)
        try FileSystem.makeDirectories(dir)
        guard chmod(dir, 0o755) == 0 else { throw SystemCallError("chmod", errno: errno, path: dir) }
        let fd = try UnixSocket.bindDatagram(dir: dir, name: "notify.sock")
        sockets[fd] = app
        // Any user the app runs as (or its user namespace maps to) may send; only its rootfs sees it.
        guard chmod("\(dir)/notify.sock", 0o666) == 0 else { throw SystemCallError("chmod", errno: errno, path: "\(dir)/notify.sock") }
      }
    } catch {
      close()
      throw error
    }
  }

  func close() {
    for fd in sockets.keys { Glibc.close(fd) }
    sockets.removeAll()
  }

  /// Reads what is queued on `fd` and relays it.
  func receive(_ fd: Int32) {
    guard let app = sockets[fd] else { return }
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
      let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_TRUNC)) }
      if n < 0 {
        if errno == EINTR { continue }
        return
      }
      guard n <= buffer.count else { continue }  // over 4 KiB: dropped (see the header)
      relay(String(decoding: buffer[..<n], as: UTF8.self), from: app)
    }
  }

  /// The lines of one datagram from `app` that go on to systemd, and READY=1 once all apps said it.
  func relay(_ message: String, from app: String) {
    if let lines = forward(message, from: app) {
      // Never blocking: an app flooding its socket must not stall the pod's supervisor (a full queue
      // at systemd drops the message; the first failure is logged, so a flood cannot fill the log).
      do { try systemd.send(lines, wait: false) } catch {
        if !loggedFailure { Stage1Log.error("notify \(systemd.address): \(error) (later failures are not logged)") }
        loggedFailure = true
      }
    }
  }

  func forward(_ message: String, from app: String) -> String? {
    var out: [Substring] = []
    for line in message.split(separator: "\n") {
      guard let eq = line.firstIndex(of: "=") else { continue }
      let key = String(line[..<eq])
      if key == "READY" {
        if line[line.index(after: eq)...] == "1" { ready.insert(app) }
      } else if Self.passed.contains(key) {
        out.append(line)
      }
    }
    if !saidReady && !apps.isEmpty && ready.isSuperset(of: apps) {
      saidReady = true
      out.append("READY=1")
    }
    return out.isEmpty ? nil : out.joined(separator: "\n")
  }
}
