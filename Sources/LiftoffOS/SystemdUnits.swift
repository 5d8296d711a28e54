// Transient systemd units over D-Bus (org.freedesktop.systemd1.Manager at /org/freedesktop/systemd1),
// for the systemd cgroup driver: a pod is the scope `liftoff-<id>.scope` in its slice, with Delegate=yes
// (liftoff writes the groups and limits below it; systemd never rewrites a delegated subtree, so a
// daemon-reload cannot lose them).
//
//   stage1 ── StartTransientUnit("liftoff-<id>.scope", "fail", [Slice, Delegate, PIDs, …], []) ──▶ systemd
//          ◀── job object path ──
//          ◀── signal JobRemoved(id, job, unit, result) ── (result "done": stage1 is in the scope)
//
// A scope whose processes are all gone stops by itself and, with CollectMode=inactive-or-failed, is
// unloaded, its cgroup (the delegated subtree with it) removed. StopUnit is for what is left behind
// (`liftoff rm`/`gc` of a pod whose stage1 was killed).
import Glibc
import LiftoffCore

public enum SystemdUnits {
  static let path = "/org/freedesktop/systemd1"
  static let manager = "org.freedesktop.systemd1.Manager"
  static let destination = "org.freedesktop.systemd1"

  /// The properties of a pod's scope (StartTransientUnit's `a(sv)`).
  public static func scopeProperties(
    slice: String?, pids: [UInt32], description: String, delegate: Bool, limits: [(String, DBusValue)] = []
  ) -> DBusValue {
    var p: [(String, DBusValue)] = [("Description", .string(description))]
    if let slice { p.append(("Slice", .string(slice))) }
    if delegate { p.append(("Delegate", .bool(true))) }
    p.append(("PIDs", .array("u", pids.map(DBusValue.uint32))))
    p.append(("CollectMode", .string("inactive-or-failed")))
    p += limits
    return .array("(sv)", p.map { .structure([.string($0.0), .variant($0.1)]) })
  }

  /// A pod's own limits as properties of its scope, for what systemd has a property for. systemd
  /// writes the scope's own cgroup files from its properties, and again on every daemon-reload: a
  /// pod-level limit written there directly would be reset (measured in the VM: memory.max back to
  /// max). The same conversions as Cgroups.applyV2 (swap: beyond the memory limit; shares → weight).
  /// cpuset, hugetlb and `unified` pod-level values have no property here and are written directly.
  public static func limitProperties(_ r: AppResources) -> [(String, DBusValue)] {
    let infinity = UInt64.max
    func bytes(_ v: Int64) -> DBusValue { .uint64(v < 0 ? infinity : UInt64(v)) }
    var p: [(String, DBusValue)] = []
    if let m = r.memoryBytes { p.append(("MemoryMax", bytes(m))) }
    if let s = r.memorySwapBytes {
      p.append(("MemorySwapMax", s == -1 ? .uint64(infinity) : bytes(max(0, s - (r.memoryBytes ?? s)))))
    } else if r.memoryBytes != nil {
      p.append(("MemorySwapMax", .uint64(0)))
    }
    if let quota = r.effectiveCPUQuotaUs {
      let period = r.effectiveCPUPeriodUs ?? 100_000
      p.append(("CPUQuotaPeriodUSec", .uint64(UInt64(max(1, period)))))
      p.append(("CPUQuotaPerSecUSec", quota < 0 ? .uint64(infinity) : .uint64(UInt64(quota) * 1_000_000 / UInt64(max(1, period)))))
    } else if let period = r.cpuPeriodUs {
      p.append(("CPUQuotaPeriodUSec", .uint64(UInt64(max(1, period)))))
    }
    if let shares = r.cpuShares { p.append(("CPUWeight", .uint64(UInt64(Cgroups.weight(shares: shares))))) }
    if let pids = r.pidsMax { p.append(("TasksMax", .uint64(pids > 0 ? UInt64(pids) : infinity))) }
    return p
  }

  /// Sets `properties` on the loaded unit `name` for as long as it runs (SetUnitProperties, runtime).
  public static func setProperties(_ name: String, _ properties: [(String, DBusValue)], timeoutSeconds: Double = 30) throws(LiftoffError) {
    guard !properties.isEmpty else { return }
    do {
      let bus = try DBusConnection.systemd(timeoutSeconds: Int(timeoutSeconds))
      _ = try bus.call(
        path: path, interface: manager, member: "SetUnitProperties", destination: destination,
        [.string(name), .bool(true), .array("(sv)", properties.map { .structure([.string($0.0), .variant($0.1)]) })],
        timeoutSeconds: timeoutSeconds)
    } catch {
      throw LiftoffError(error.code, "systemd unit \(name): cannot set \(properties.map(\.0).joined(separator: ", ")): \(error.message)", cause: error.cause)
    }
  }

  /// Starts the transient scope `name` holding `pids` and waits until systemd has started it (the
  /// pids are in its cgroup then). Errors name the unit and what systemd said.
  public static func startScope(
    _ name: String, slice: String?, pids: [UInt32], description: String, delegate: Bool,
    limits: [(String, DBusValue)] = [], timeoutSeconds: Double = 30
  ) throws(LiftoffError) {
    let properties = scopeProperties(slice: slice, pids: pids, description: description, delegate: delegate, limits: limits)
    try runJob(name, timeoutSeconds: timeoutSeconds, verb: "start") { (bus: DBusConnection) throws(LiftoffError) in
      try bus.call(
        path: path, interface: manager, member: "StartTransientUnit", destination: destination,
        [.string(name), .string("fail"), properties, .array("(sa(sv))", [])], timeoutSeconds: timeoutSeconds)
    }
  }

  /// Stops `name` (its processes get SIGTERM, then SIGKILL after systemd's timeout) and waits for
  /// the job. A unit systemd does not know is already stopped: no error.
  public static func stopUnit(_ name: String, timeoutSeconds: Double = 30) throws(LiftoffError) {
    do {
      try runJob(name, timeoutSeconds: timeoutSeconds, verb: "stop") { (bus: DBusConnection) throws(LiftoffError) in
        try bus.call(
          path: path, interface: manager, member: "StopUnit", destination: destination,
          [.string(name), .string("fail")], timeoutSeconds: timeoutSeconds)
      }
    } catch where error.code == .notFound {
      return
    }
  }

  /// Subscribes to the manager's signals (on the system bus), calls `method` (which returns a job path) and waits for the
  /// job's JobRemoved; a result other than `done` is an error.
  static func runJob(
    _ unit: String, timeoutSeconds: Double, verb: String, _ method: (DBusConnection) throws(LiftoffError) -> DBusMessage
  ) throws(LiftoffError) {
    let deadline = Clock.monotonic() + timeoutSeconds
    let reply: DBusMessage
    let bus: DBusConnection
    var step = "connecting to systemd"
    do {
      bus = try DBusConnection.systemd(timeoutSeconds: Int(timeoutSeconds))
      step = "subscribing"
      if bus.viaBus {
        _ = try bus.call(
          path: "/org/freedesktop/DBus", interface: "org.freedesktop.DBus", member: "AddMatch",
          destination: "org.freedesktop.DBus",
          [.string("type='signal',sender='\(destination)',interface='\(manager)',member='JobRemoved'")])
        // On systemd's private socket every client gets the manager's signals without subscribing.
        _ = try bus.call(path: path, interface: manager, member: "Subscribe", destination: destination)
      }
      step = "calling"
      reply = try method(bus)
    } catch {
      throw LiftoffError(error.code, "systemd unit \(unit): cannot \(verb) it (\(step)): \(error.message)", cause: error.cause)
    }
    guard case .objectPath(let job)? = reply.body.first else {
      throw .init(.internal, "systemd unit \(unit): the \(verb) call returned no job (\(reply.signature))")
    }
    let done: DBusMessage
    do {
      done = try bus.waitForSignal(deadline: deadline) { m in
        m.member == "JobRemoved" && m.interface == manager && m.body.count == 4 && m.body[1] == .objectPath(job)
      }
    } catch {
      throw LiftoffError(error.code, "systemd unit \(unit): waiting for its \(verb) job \(job): \(error.message)")
    }
    let result = done.body[3].string ?? ""
    guard result == "done" else {
      throw .init(.failedPrecondition, "systemd unit \(unit): its \(verb) job finished with result \"\(result)\"")
    }
  }
}
