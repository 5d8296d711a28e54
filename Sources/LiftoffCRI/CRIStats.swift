// Stats of CRI containers and sandboxes, from LiftoffPod's StatsReader (cgroup files, the apps'
// overlay upper dirs, the pod's /proc/<stage1>/net/dev) — read from the kernel on every call, never
// cached. The one thing kept in memory is the previous CPU sample of each container and sandbox, so
// that `usage_nano_cores` (a rate) can be reported from two samples, as containerd does; the first call
// for an ID has no rate yet (kubelet then computes one from its own previous sample).
import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import Synchronization

/// The last (timestamp ns, cumulative CPU ns) seen per container or sandbox ID.
final class CPUSamples: Sendable {
  private let samples = Mutex<[String: (time: Int64, usage: UInt64)]>([:])

  /// Records this sample and returns the CPU rate in nanocores since the previous one, if any.
  func rate(_ key: String, time: Int64, usage: UInt64) -> UInt64? {
    samples.withLock { s in
      defer { s[key] = (time, usage) }
      guard let prev = s[key], time > prev.time, usage >= prev.usage else { return nil }
      return UInt64((Double(usage - prev.usage) * 1e9 / Double(time - prev.time)).rounded())
    }
  }

  func forget(_ key: String) { _ = samples.withLock { $0.removeValue(forKey: key) } }
}

extension CRIRuntime {
  var statsReader: StatsReader {
    get throws { StatsReader(store: try podStore) }
  }

  func containerStats(_ c: CRIContainer) throws -> Runtime_V1_ContainerStats {
    let stats = try statsReader.stats(c.sandbox.id, app: c.id)
    guard let app = stats.apps.first else { throw LiftoffError.notFound("container \(c.id) not found") }
    return containerStats(c, app)
  }

  func containerStats(_ c: CRIContainer, _ app: AppStats) -> Runtime_V1_ContainerStats {
    var s = Runtime_V1_ContainerStats()
    s.attributes.id = c.id
    s.attributes.metadata = c.metadata
    s.attributes.labels = c.app.labels
    s.attributes.annotations = c.userAnnotations
    s.cpu = cpuUsage(app.cpu, key: c.id, time: app.timestampNs)
    s.memory = memoryUsage(app.memory, time: app.timestampNs)
    s.swap = swapUsage(app.swap, time: app.timestampNs)
    if let psi = app.io.psi { s.io = ioUsage(psi, time: app.timestampNs) }
    var fs = Runtime_V1_FilesystemUsage()
    fs.timestamp = app.timestampNs
    fs.fsID.mountpoint = app.writableLayer.path
    fs.usedBytes = .init(app.writableLayer.usedBytes)
    fs.inodesUsed = .init(app.writableLayer.inodesUsed)
    s.writableLayer = fs
    return s
  }

  func sandboxStats(_ sandbox: CRISandbox, containers: [CRIContainer]) throws -> Runtime_V1_PodSandboxStats {
    let stats = try statsReader.stats(sandbox.id)
    var s = Runtime_V1_PodSandboxStats()
    s.attributes.id = sandbox.id
    s.attributes.metadata = sandbox.metadata
    s.attributes.labels = sandbox.manifest.labels
    s.attributes.annotations = sandbox.userAnnotations
    var linux = Runtime_V1_LinuxPodSandboxStats()
    linux.cpu = cpuUsage(stats.cpu, key: "sandbox:" + sandbox.id, time: stats.timestampNs)
    linux.memory = memoryUsage(stats.memory, time: stats.timestampNs)
    if let psi = stats.io.psi { linux.io = ioUsage(psi, time: stats.timestampNs) }
    var process = Runtime_V1_ProcessUsage()
    process.timestamp = stats.timestampNs
    if let n = stats.processCount { process.processCount = .init(n) }
    linux.process = process
    var network = Runtime_V1_NetworkUsage()
    network.timestamp = stats.timestampNs
    network.interfaces = stats.network.map { i in
      var u = Runtime_V1_NetworkInterfaceUsage()
      u.name = i.name
      u.rxBytes = .init(i.rxBytes)
      u.rxErrors = .init(i.rxErrors)
      u.txBytes = .init(i.txBytes)
      u.txErrors = .init(i.txErrors)
      return u
    }
    if let d = network.interfaces.first(where: { $0.name == "eth0" }) ?? network.interfaces.first {
      network.defaultInterface = d
    }
    linux.network = network
    linux.containers = containers.compactMap { c in
      stats.apps.first { $0.name == c.id }.map { containerStats(c, $0) }
    }
    s.linux = linux
    return s
  }

  func cpuUsage(_ cpu: CPUStats, key: String, time: Int64) -> Runtime_V1_CpuUsage {
    var u = Runtime_V1_CpuUsage()
    u.timestamp = time
    if let total = cpu.usageCoreNanoseconds {
      u.usageCoreNanoSeconds = .init(total)
      if let rate = cpuSamples.rate(key, time: time, usage: total) { u.usageNanoCores = .init(rate) }
    }
    if let psi = cpu.psi { u.psi = .init(psi) }
    return u
  }

  /// Swap of a v2 group (memory.swap.current, and what is left below memory.swap.max when limited).
  func swapUsage(_ swap: SwapStats, time: Int64) -> Runtime_V1_SwapUsage {
    var u = Runtime_V1_SwapUsage()
    u.timestamp = time
    if let used = swap.usageBytes {
      u.swapUsageBytes = .init(used)
      if let limit = swap.limitBytes { u.swapAvailableBytes = .init(limit > used ? limit - used : 0) }
    }
    return u
  }

  func ioUsage(_ psi: Pressure, time: Int64) -> Runtime_V1_IoUsage {
    var u = Runtime_V1_IoUsage()
    u.timestamp = time
    u.psi = .init(psi)
    return u
  }

  func memoryUsage(_ m: MemoryStats, time: Int64) -> Runtime_V1_MemoryUsage {
    var u = Runtime_V1_MemoryUsage()
    u.timestamp = time
    if let v = m.workingSetBytes {
      u.workingSetBytes = .init(v)
      if let limit = m.limitBytes { u.availableBytes = .init(limit > v ? limit - v : 0) }
    }
    if let v = m.usageBytes { u.usageBytes = .init(v) }
    if let v = m.rssBytes { u.rssBytes = .init(v) }
    if let v = m.pageFaults { u.pageFaults = .init(v) }
    if let v = m.majorPageFaults { u.majorPageFaults = .init(v) }
    if let psi = m.psi { u.psi = .init(psi) }
    return u
  }
}

extension Runtime_V1_PsiStats {
  /// PSI as the CRI carries it (kubelet's KEP-4205 metrics): totals in microseconds, as the kernel counts.
  init(_ p: Pressure) {
    self.init()
    func data(_ l: Pressure.Line) -> Runtime_V1_PsiData {
      var d = Runtime_V1_PsiData()
      d.total = l.total
      d.avg10 = l.avg10
      d.avg60 = l.avg60
      d.avg300 = l.avg300
      return d
    }
    if let s = p.some { some = data(s) }
    if let f = p.full { full = data(f) }
  }
}

extension Runtime_V1_UInt64Value {
  init(_ v: UInt64) {
    self.init()
    value = v
  }
}
