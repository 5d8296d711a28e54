// The device confinement of an app: everything denied, then runc's default allow-list (mknod of any
// node; null, zero, full, random, urandom, tty, console, ptmx, the pts devices, tun), then the app's
// own `--device` nodes with their permissions. Applied wherever the host can:
//   - cgroup v1 `devices` controller: the rules written to the app's group;
//   - cgroup2 (the unified hierarchy of a v2 host, or the hybrid one beside v1's controllers): an eBPF
//     program of the same rules on the app's group there (DeviceFilter.swift).
// On this hybrid machine both, so that neither a widened v1 group nor a missing one opens a device.
// A privileged app keeps the parent's allow-all (no rules, no program). Where neither confines it an
// unprivileged app is refused (CAP_MKNOD is in the default set: root inside could make a node of the
// host's disk and read it); a program that cannot be attached where the v1 rules hold is a warning.
import Glibc
import LiftoffCore

extension Cgroups {
  /// The allow rules every app gets (runc's defaults).
  public static let defaultDeviceRules: [DeviceRule] = [
    DeviceRule(.char, nil, nil, .mknod), DeviceRule(.block, nil, nil, .mknod),
    DeviceRule(.char, 1, 3, .all), DeviceRule(.char, 1, 5, .all), DeviceRule(.char, 1, 7, .all), DeviceRule(.char, 1, 8, .all),
    DeviceRule(.char, 1, 9, .all), DeviceRule(.char, 5, 0, .all), DeviceRule(.char, 5, 1, .all), DeviceRule(.char, 5, 2, .all),
    DeviceRule(.char, 136, nil, .all), DeviceRule(.char, 10, 200, .all),
  ]

  /// The allow-list of an unprivileged app with its own devices.
  public static func deviceRules(extra: [AppDevice]) throws(LiftoffError) -> [DeviceRule] {
    var rules = defaultDeviceRules
    // No permissions (a CDI node with `permissions: none`): the node is there, the device is not usable.
    for d in extra where !d.permissions.isEmpty { rules.append(try DeviceRule(d)) }
    return rules
  }

  /// Confines the app's group (made by `create`) to its devices, before any process joins it.
  /// Returns a warning for stage1's log when the cgroup2 program could not be attached but the v1
  /// rules confine the app; throws when nothing can (an unprivileged app must not run then).
  @discardableResult
  public func restrictDevices(pod: String, app: String, allowAll: Bool, extra: [AppDevice]) throws -> String? {
    let v1 = version == .v1 && hasController("devices")
    let v2 = unifiedDirectory(pod: pod, app: app)
    guard v1 || v2 != nil else {
      if allowAll { return nil }
      throw LiftoffError(
        .failedPrecondition,
        "app \(app): its devices cannot be confined on this host: the cgroup v1 devices controller is not mounted at \(root)/devices and no cgroup2 hierarchy is mounted (\(root)/unified); only a privileged app may run here")
    }
    if v1 {
      let dir = directory("devices", pod: pod, app: app)
      if allowAll {
        try FileSystem.writeControl("\(dir)/devices.allow", "a")
      } else {
        try FileSystem.writeControl("\(dir)/devices.deny", "a")
        for rule in try Self.deviceRules(extra: extra) { try FileSystem.writeControl("\(dir)/devices.allow", rule.description) }
      }
    }
    // A privileged app's group is new (made by `create`, removed when the app exits): no program.
    guard let v2, !allowAll else { return nil }
    do {
      try DeviceFilter.attach(allowing: Self.deviceRules(extra: extra), to: v2)
    } catch {
      guard v1 else {
        throw LiftoffError(
          .failedPrecondition, "app \(app): its devices cannot be confined on this host: there is no cgroup v1 devices controller and \(error)")
      }
      return "app \(app): only its cgroup v1 devices group confines its devices: \(error)"
    }
    return nil
  }
}
