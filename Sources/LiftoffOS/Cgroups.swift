// Cgroups for pods and apps: `<root>/liftoff/<pod-id>/<app>` in every hierarchy Liftoff uses.
// v1 (this machine: one hierarchy per controller under /sys/fs/cgroup/<controller>) and v2 (one unified
// hierarchy, controllers enabled through cgroup.subtree_control). A v1 host with cgroup2 mounted beside
// its controllers (systemd's hybrid layout, /sys/fs/cgroup/unified; this machine) gets the same groups
// there too, without controllers: an app's eBPF device filter is attached to its group in it
// (Cgroups+Devices.swift). The root is a parameter so that the same code is unit-tested on a fake
// hierarchy (a temp directory) and exercised for real as root.
import CLinux
import Glibc
import LiftoffCore

public struct Cgroups: Sendable {
  public enum Version: Sendable, Equatable { case v1, v2 }

  public let root: String
  public let version: Version
  /// The group Liftoff's pods go under, relative to each hierarchy root.
  public let parent: String
  /// v1 only: the root of a cgroup2 hierarchy mounted beside the controllers (hybrid), where every
  /// pod and app gets a group too (for the device filter); nil where there is none.
  public let unified: String?

  /// v1 controllers every pod and app gets a group in (and that are cleaned up).
  public static let v1Controllers = ["memory", "cpu", "cpuacct", "pids"]
  /// v1 controllers used when the host has them mounted (`<root>/<controller>` is a directory).
  public static let v1OptionalControllers = ["cpuset", "hugetlb", "devices"]

  /// The systemd cgroup driver: each pod's group is its transient scope unit `liftoff-<pod>.scope`
  /// (made over D-Bus by stage1, SystemdScope.swift), with stage1 itself in the leaf `_stage1` of it;
  /// false: the pod's group is the directory `<pod>` (cgroupfs driver).
  public let systemdScopes: Bool

  /// The leaf of a pod's scope that stage1 (and the pod's PID 1) live in: cgroup v2 lets only a group
  /// without processes of its own pass controllers on to the apps' groups. `_` is no app name.
  public static let supervisorGroup = "_stage1"

  public init(root: String, version: Version, parent: String = "liftoff", unified: String? = nil, systemdScopes: Bool = false) {
    self.root = root
    self.version = version
    self.parent = parent
    self.unified = version == .v1 ? unified : nil
    self.systemdScopes = systemdScopes
  }

  /// The host's cgroups: v2 when /sys/fs/cgroup is the unified hierarchy, v1 otherwise (with
  /// /sys/fs/cgroup/unified when that is a cgroup2 mount).
  public static func host(parent: String = "liftoff") -> Cgroups {
    let root = "/sys/fs/cgroup"
    if FileSystem.exists(root + "/cgroup.controllers") { return Cgroups(root: root, version: .v2, parent: parent) }
    let unified = root + "/unified"
    return Cgroups(root: root, version: .v1, parent: parent, unified: isCgroup2(unified) ? unified : nil)
  }

  /// Is `path` the root of a cgroup2 mount (statfs magic CGROUP2_SUPER_MAGIC)?
  public static func isCgroup2(_ path: String) -> Bool { liftoff_net_fs_type(path) == 0x6367_7270 }

  /// The same hierarchy with pods under another parent group (a pod's `cgroupParent`).
  public func under(_ parent: String?) -> Cgroups {
    guard let parent, !parent.isEmpty else { return self }
    return Cgroups(root: root, version: version, parent: parent, unified: unified, systemdScopes: systemdScopes)
  }

  /// The hierarchy as a pod's manifest places it: under its `cgroupParent`, and, with the systemd
  /// driver (`systemdSlice`), in its scope unit.
  public func of(_ manifest: PodManifest) -> Cgroups {
    let c = under(manifest.cgroupParent)
    return Cgroups(root: c.root, version: c.version, parent: c.parent, unified: c.unified, systemdScopes: manifest.systemdSlice != nil)
  }

  /// The name of a pod's own group: its scope unit with the systemd driver, else its ID.
  public func podGroup(_ pod: String) -> String { systemdScopes ? Self.scopeUnit(pod: pod) : pod }

  /// The transient scope unit of a pod (systemd cgroup driver).
  public static func scopeUnit(pod: String) -> String { "liftoff-\(pod).scope" }

  /// A parent group as kubelet's cgroupfs driver gives it (`/kubepods/burstable/pod<uid>`) made
  /// relative; nil when it is not a clean path of names (empty parts, `.` or `..`).
  public static func parentPath(_ path: String) -> String? {
    let parts = path.split(separator: "/", omittingEmptySubsequences: true)
    guard !parts.isEmpty, parts.allSatisfy({ $0 != "." && $0 != ".." && !$0.contains("\0") }) else { return nil }
    return parts.joined(separator: "/")
  }

  /// Is systemd the init system (sd_booted(3): /run/systemd/system is a directory)?
  public static var systemdIsRunning: Bool { FileSystem.isDirectory("/run/systemd/system") }

  /// The cgroup path of a systemd slice, as systemd lays slices out: `a-b-c.slice` →
  /// `a.slice/a-b.slice/a-b-c.slice`, `-.slice` → the root (""). nil when it is not a valid slice
  /// name (no `.slice` suffix, a `/`, an empty part between dashes, a leading or trailing dash).
  public static func expandSlice(_ slice: String) -> String? {
    guard slice.hasSuffix(".slice"), !slice.contains("/") else { return nil }
    if slice == "-.slice" { return "" }
    let name = String(slice.dropLast(".slice".count))
    guard !name.isEmpty, !name.contains("--"), !name.hasPrefix("-"), !name.hasSuffix("-") else { return nil }
    guard name.utf8.allSatisfy({ $0 > 0x20 && $0 != 0x7f }) else { return nil }
    var path: [String] = []
    var prefix = ""
    for part in name.split(separator: "-") {
      prefix = prefix.isEmpty ? String(part) : "\(prefix)-\(part)"
      path.append(prefix + ".slice")
    }
    return path.joined(separator: "/")
  }

  /// The v1 controllers in use on this hierarchy.
  public var controllers: [String] {
    Self.v1Controllers + Self.v1OptionalControllers.filter { FileSystem.isDirectory("\(root)/\($0)") }
  }

  /// Is this v1 controller mounted (v1), or available in the root's cgroup.controllers (v2)?
  public func hasController(_ name: String) -> Bool {
    switch version {
    case .v1: return FileSystem.isDirectory("\(root)/\(name)")
    case .v2:
      return Self.words((try? FileSystem.readString("\(root)/cgroup.controllers")) ?? "").contains(name)
    }
  }

  /// Directories of one cgroup (one per v1 controller and the hybrid unified one, one for v2): a
  /// process joins all of them.
  public func directories(pod: String, app: String? = nil) -> [String] {
    let rel = relative(pod: pod, app: app)
    switch version {
    case .v1: return controllers.map { "\(root)/\($0)/\(rel)" } + (unified.map { ["\($0)/\(rel)"] } ?? [])
    case .v2: return ["\(root)/\(rel)"]
    }
  }

  /// The group's directory in a cgroup2 hierarchy: the group itself (v2), its twin under the hybrid
  /// unified mount (v1 with one), or nil.
  public func unifiedDirectory(pod: String, app: String? = nil) -> String? {
    switch version {
    case .v1: return unified.map { "\($0)/\(relative(pod: pod, app: app))" }
    case .v2: return "\(root)/\(relative(pod: pod, app: app))"
    }
  }

  func relative(pod: String, app: String?) -> String { "\(parent)/\(podGroup(pod))" + (app.map { "/\($0)" } ?? "") }

  /// The directory of one controller's group (v1), or the unified group (v2).
  public func directory(_ controller: String, pod: String, app: String? = nil) -> String {
    switch version {
    case .v1: return "\(root)/\(controller)/\(relative(pod: pod, app: app))"
    case .v2: return "\(root)/\(relative(pod: pod, app: app))"
    }
  }

  /// Creates the app's cgroup with its limits. Idempotent.
  public func create(pod: String, app: String, resources: AppResources) throws {
    try makeGroups(pod: pod, app: app)
    try apply(pod: pod, app: app, resources: resources)
  }

  /// Creates the pod's own cgroup (the parent of its apps') with pod-level limits. Idempotent.
  public func createPod(_ pod: String, resources: AppResources) throws {
    try makeGroups(pod: pod, app: nil)
    try apply(pod: pod, app: nil, resources: resources)
  }

  func makeGroups(pod: String, app: String?) throws {
    switch version {
    case .v1:
      for c in controllers {
        // Every level from the hierarchy's root down, so that a nested parent gets cpusets too.
        let parts = parent.split(separator: "/").map(String.init)
        var levels = parts.indices.map { parts[...$0].joined(separator: "/") }
        levels += [relative(pod: pod, app: nil)] + (app.map { [relative(pod: pod, app: $0)] } ?? [])
        for (i, level) in levels.enumerated() {
          let dir = "\(root)/\(c)/\(level)"
          try FileSystem.makeDirectories(dir)
          // A new v1 cpuset group starts with no CPUs and no memory nodes: nothing could join it.
          if c == "cpuset" {
            let up = i == 0 ? "\(root)/\(c)" : "\(root)/\(c)/\(levels[i - 1])"
            for f in ["cpuset.cpus", "cpuset.mems"] {
              let current = Self.trimmed((try? FileSystem.readString("\(dir)/\(f)")) ?? "")
              if current.isEmpty, let value = try? FileSystem.readString("\(up)/\(f)") {
                try FileSystem.writeControl("\(dir)/\(f)", Self.trimmed(value))
              }
            }
          }
        }
      }
      if let dir = unifiedDirectory(pod: pod, app: app) { try FileSystem.makeDirectories(dir) }
    case .v2:
      try FileSystem.makeDirectories("\(root)/\(relative(pod: pod, app: app))")
      try delegateControllers(down: relative(pod: pod, app: nil))
    }
  }

  /// The controllers an app's group must have (their files are written or read for every app).
  public static let v2RequiredControllers = ["cpu", "memory", "pids"]

  /// v2: enables every controller the hierarchy offers in `cgroup.subtree_control` of each level from
  /// the root down to `relative` (a nested cgroup parent's levels too), as runc does, so that the
  /// groups below get their interface files. A level may only do this while it holds no process (the
  /// kernel's "no internal processes" rule; the root is exempt): Liftoff's processes live in the
  /// apps' groups, the leaves. A controller that cannot be enabled is an error naming the file when it
  /// is one the apps need (cpu, memory, pids); others (io, hugetlb, rdma, …) are left off.
  func delegateControllers(down relative: String) throws {
    var dir = root
    var available = Self.words((try? FileSystem.readString("\(root)/cgroup.controllers")) ?? "")
    for part in [""] + relative.split(separator: "/").map(String.init) {
      if !part.isEmpty { dir += "/\(part)" }
      let file = "\(dir)/cgroup.subtree_control"
      var enabled = Self.words((try? FileSystem.readString(file)) ?? "")
      let missing = available.filter { !enabled.contains($0) }
      if !missing.isEmpty {
        do {
          try FileSystem.writeControl(file, missing.map { "+\($0)" }.joined(separator: " "))
          enabled += missing
        } catch {
          // One at a time: a controller the kernel refuses here leaves the others on.
          var firstError: (String, any Error)?
          for c in missing {
            do {
              try FileSystem.writeControl(file, "+\(c)")
              enabled.append(c)
            } catch {
              if firstError == nil { firstError = (c, error) }
            }
          }
          if let missingRequired = Self.v2RequiredControllers.first(where: { available.contains($0) && !enabled.contains($0) }) {
            let why = firstError.map { "\($0.1)" } ?? "refused"
            throw LiftoffError(
              .failedPrecondition,
              "cannot enable the \(missingRequired) controller in \(file) (a group with processes of its own cannot pass controllers on): \(why)")
          }
        }
      }
      available = available.filter { enabled.contains($0) }
    }
  }

  /// The names in a space-separated control file (`cgroup.controllers`, `cgroup.subtree_control`).
  static func words(_ text: String) -> [String] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { String($0.hasPrefix("+") ? $0.dropFirst() : $0[...]) }
  }

  /// CFS quota in µs per 100 ms period for a limit in millicores (at least 1 ms, as the kernel wants).
  public static func quota(millis: Int64) -> Int64 { max(1000, millis * 100) }

  /// cgroup v2 cpu.weight from v1 cpu.shares (the conversion runc and crun use).
  public static func weight(shares: Int64) -> Int64 {
    if shares <= 0 { return 100 }
    let s = min(max(shares, 2), 262144)
    return 1 + ((s - 2) * 9999) / 262142
  }

  /// Moves process `pid` (0: the caller) into the app's cgroup.
  public func enter(pod: String, app: String, pid: Int32 = 0) throws(SystemCallError) {
    for d in directories(pod: pod, app: app) { try FileSystem.writeControl("\(d)/cgroup.procs", String(pid)) }
  }

  /// Did the kernel's OOM killer kill something in the app's cgroup?
  public func oomKilled(pod: String, app: String) -> Bool {
    switch version {
    case .v1:
      let f = "\(root)/memory/\(relative(pod: pod, app: app))/memory.oom_control"
      return (Self.keyedValue(f, "oom_kill") ?? 0) > 0
    case .v2:
      let f = "\(root)/\(relative(pod: pod, app: app))/memory.events"
      return (Self.keyedValue(f, "oom_kill") ?? 0) > 0
    }
  }

  /// A control file's text without its trailing newline.
  static func trimmed(_ s: String) -> String {
    var t = Substring(s)
    while let l = t.last, l == "\n" || l == " " { t = t.dropLast() }
    return String(t)
  }

  /// A `key value` line of a flat-keyed cgroup file.
  public static func keyedValue(_ path: String, _ key: String) -> Int64? {
    guard let text = try? FileSystem.readString(path) else { return nil }
    for line in text.split(separator: "\n") {
      let f = line.split(separator: " ")
      if f.count == 2, f[0] == key { return Int64(f[1]) }
    }
    return nil
  }

  /// Pids in a cgroup directory (all controllers agree; the first readable one is used).
  public func pids(pod: String, app: String? = nil) -> [Int32] {
    var out: [Int32] = []
    for d in directories(pod: pod, app: app) {
      guard let text = try? FileSystem.readString("\(d)/cgroup.procs") else { continue }
      out += text.split(separator: "\n").compactMap { Int32($0) }
    }
    return Array(Set(out))
  }

  /// Kills whatever is left in the pod's cgroups and removes them (children first). Missing groups
  /// are fine; returns false when something could not be removed (e.g. a process would not die).
  /// With the systemd driver the apps' groups go, but the scope and stage1's leaf in it are the
  /// unit's: systemd removes them (the whole delegated subtree) once the scope's last process is gone.
  @discardableResult
  public func removePod(_ pod: String) -> Bool {
    var ok = true
    for podDir in directories(pod: pod) where FileSystem.isDirectory(podDir) {
      let apps = ((try? FileSystem.list(podDir)) ?? []).filter { FileSystem.isDirectory("\(podDir)/\($0)") }
      for a in apps where !(systemdScopes && a == Self.supervisorGroup) { ok = removeGroup("\(podDir)/\(a)") && ok }
      if !systemdScopes { ok = removeGroup(podDir) && ok }
    }
    return ok
  }

  /// Systemd driver: moves `pid` (stage1, just placed in its scope) into the scope's leaf
  /// `_stage1`, so that the scope itself holds no process and can pass controllers on to the apps.
  public func enterSupervisorGroup(pod: String, pid: Int32) throws {
    for d in directories(pod: pod) {
      try FileSystem.makeDirectories("\(d)/\(Self.supervisorGroup)")
      try FileSystem.writeControl("\(d)/\(Self.supervisorGroup)/cgroup.procs", String(pid))
    }
  }

  /// Removes one app's cgroups (after its processes are gone).
  @discardableResult
  public func removeApp(pod: String, app: String) -> Bool {
    var ok = true
    for d in directories(pod: pod, app: app) where FileSystem.isDirectory(d) { ok = removeGroup(d) && ok }
    return ok
  }

  private func removeGroup(_ dir: String) -> Bool {
    for attempt in 0..<50 {
      if rmdir(dir) == 0 || errno == ENOENT { return true }
      guard errno == EBUSY else {
        // A fake hierarchy (unit tests) holds regular files: remove them, then the directory.
        if errno == ENOTEMPTY, let names = try? FileSystem.list(dir) {
          for n in names where !FileSystem.isDirectory("\(dir)/\(n)") { unlink("\(dir)/\(n)") }
          if rmdir(dir) == 0 { return true }
        }
        return false
      }
      if let text = try? FileSystem.readString("\(dir)/cgroup.procs") {
        for p in text.split(separator: "\n").compactMap({ Int32($0) }) { kill(p, SIGKILL) }
      }
      usleep(attempt < 10 ? 10_000 : 100_000)
    }
    return false
  }
}
