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
  /// cpuset as AllowedCPUs/AllowedMemoryNodes (bit masks, as runc's systemd driver sends them); the
  /// `unified` keys systemd writes from a property as that property (runc's set — cpu.max, cpu.weight,
  /// cpuset.cpus/mems, memory.high/low/min/max/swap.max, pids.max — and memory.oom.group (OOMPolicy)
  /// and io.weight (IOWeight), which systemd 252 rewrites on a reload too: measured in the VM), after
  /// the typed ones, as the files are written. hugetlb and the other files are written directly.
  /// OOMPolicy (memory.oom.group) can be given only when the scope starts (`atStart`): systemd 252
  /// refuses it in SetUnitProperties, so a later change is the file alone, which a reload resets.
  public static func limitProperties(_ r: AppResources, atStart: Bool = false) -> [(String, DBusValue)] {
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
    if let cpus = r.cpusetCpus, let mask = cpuMask(cpus) { p.append(("AllowedCPUs", mask)) }
    if let mems = r.cpusetMems, let mask = cpuMask(mems) { p.append(("AllowedMemoryNodes", mask)) }
    for key in r.unified.keys.sorted() {
      if let property = unifiedProperty(key, r.unified[key]!), atStart || property.0 != "OOMPolicy" { p.append(property) }
    }
    return p
  }

  /// A cgroup v2 file's value as the unit property systemd writes that file from, or nil where systemd
  /// has none (or the value is not one it takes: then the file is written and the property left).
  static func unifiedProperty(_ key: String, _ raw: String) -> (String, DBusValue)? {
    let fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" })
    let value = fields.joined(separator: " ")
    func limit(_ v: String) -> DBusValue? { v == "max" ? .uint64(UInt64.max) : UInt64(v).map(DBusValue.uint64) }
    switch key {
    case "memory.high": return limit(value).map { ("MemoryHigh", $0) }
    case "memory.low": return limit(value).map { ("MemoryLow", $0) }
    case "memory.min": return limit(value).map { ("MemoryMin", $0) }
    case "memory.max": return limit(value).map { ("MemoryMax", $0) }
    case "memory.swap.max": return limit(value).map { ("MemorySwapMax", $0) }
    case "pids.max": return limit(value).map { ("TasksMax", $0) }
    case "cpu.weight": return UInt64(value).flatMap { (1...10_000).contains($0) ? ("CPUWeight", .uint64($0)) : nil }
    case "memory.oom.group":
      // systemd writes it from OOMPolicy (kill: the whole group on an OOM kill), 0 otherwise.
      return value == "1" ? ("OOMPolicy", .string("kill")) : value == "0" ? ("OOMPolicy", .string("continue")) : nil
    case "io.weight":
      // "default N" or "N"; per-device weights have no property (systemd names devices by path).
      let weight = fields.count == 2 && fields[0] == "default" ? UInt64(fields[1]) : fields.count == 1 ? UInt64(fields[0]) : nil
      return weight.flatMap { (1...10_000).contains($0) ? ("IOWeight", .uint64($0)) : nil }
    case "cpuset.cpus": return cpuMask(value).map { ("AllowedCPUs", $0) }
    case "cpuset.mems": return cpuMask(value).map { ("AllowedMemoryNodes", $0) }
    case "cpu.max":
      // "QUOTA PERIOD" or "max [PERIOD]": systemd takes the quota per second and the period.
      guard (1...2).contains(fields.count) else { return nil }
      let period = fields.count == 2 ? UInt64(fields[1]) : 100_000
      guard let period, period > 0 else { return nil }
      if fields[0] == "max" { return ("CPUQuotaPerSecUSec", .uint64(UInt64.max)) }
      guard let quota = UInt64(fields[0]) else { return nil }
      return ("CPUQuotaPerSecUSec", .uint64(quota * 1_000_000 / period))
    default: return nil
    }
  }

  /// A cpuset list (`0-3,8`) as systemd's CPU-set property: a byte array, bit i of byte i/8 for CPU
  /// (or node) i. nil for a list that does not parse, or an empty one (systemd reads empty as "all").
  static func cpuMask(_ list: String) -> DBusValue? {
    var bytes: [UInt8] = []
    for part in list.split(separator: ",") {
      let bounds = part.filter { $0 != " " && $0 != "\n" }.split(separator: "-", omittingEmptySubsequences: false)
      guard (1...2).contains(bounds.count), let low = Int(bounds[0]), let high = Int(bounds.last!),
        low >= 0, low <= high, high < 8192
      else { return nil }
      if bytes.count <= high / 8 { bytes += [UInt8](repeating: 0, count: high / 8 + 1 - bytes.count) }
      for i in low...high { bytes[i / 8] |= UInt8(1) << UInt8(i % 8) }
    }
    return bytes.isEmpty ? nil : .array("y", bytes.map(DBusValue.byte))
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
