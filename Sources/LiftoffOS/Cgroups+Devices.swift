// The device cgroup of an app (v1 `devices` controller): everything denied, then runc's default
// allow-list (mknod of any node; null, zero, full, random, urandom, tty, console, ptmx, the pts
// devices, tun), then the app's own `--device` nodes with their permissions. A privileged app keeps
// the parent's allow-all. On v2 (eBPF device programs) and where the controller is not mounted the
// app is not restricted here — only by its capabilities and the nodes in its /dev.
import Glibc
import LiftoffCore

extension Cgroups {
  /// The allow rules every app gets.
  public static let defaultDeviceRules = [
    "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm",
    "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
  ]

  public func restrictDevices(pod: String, app: String, allowAll: Bool, extra: [AppDevice]) throws {
    guard version == .v1, hasController("devices") else { return }
    let dir = directory("devices", pod: pod, app: app)
    if allowAll {
      try FileSystem.writeControl("\(dir)/devices.allow", "a")
      return
    }
    try FileSystem.writeControl("\(dir)/devices.deny", "a")
    for rule in Self.defaultDeviceRules + extra.map({ "\($0.type) \($0.major):\($0.minor) \($0.permissions)" }) {
      try FileSystem.writeControl("\(dir)/devices.allow", rule)
    }
  }
}
