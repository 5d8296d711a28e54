// What `liftoff app stats POD [--app A] --format json` prints and the CRI stats RPCs report: usage of
// a pod and of its apps, read at one instant from the cgroup files (LiftoffOS Cgroups+Stats), the
// apps' writable layers (their overlay upper dirs) and the pod's network namespace
// (`/proc/<stage1 pid>/net/dev`, loopback left out). Fields that could not be read are absent.
//
// JSON (snake_case, one stable document):
//   {"pod_id", "timestamp_ns", "cpu": {"usage_core_nanoseconds", "psi"}, "memory": {"usage_bytes",
//    "working_set_bytes", "rss_bytes", "page_faults", "major_page_faults", "limit_bytes", "psi"},
//    "swap": {"usage_bytes", "limit_bytes"}, "io": {"psi"},
//    "process_count", "network": [{"name", "rx_bytes", "rx_errors", "tx_bytes", "tx_errors"}],
//    "apps": [{"name", "state", "timestamp_ns", "cpu", "memory", "swap", "io", "process_count",
//              "writable_layer": {"path", "used_bytes", "inodes_used"}}]}
// "psi" (cgroup v2 pressure stall information, where the kernel has it): {"some": {"avg10", "avg60",
// "avg300", "total"}, "full": {…}}, total in microseconds.
import Foundation
import LiftoffCore
import LiftoffOS

public struct CPUStats: Codable, Sendable, Equatable {
  /// Cumulative CPU time in nanoseconds.
  public var usageCoreNanoseconds: UInt64?
  public var psi: Pressure?
  enum CodingKeys: String, CodingKey { case usageCoreNanoseconds = "usage_core_nanoseconds", psi }
}

public struct SwapStats: Codable, Sendable, Equatable {
  public var usageBytes: UInt64?
  /// The swap limit in force (absent when unlimited).
  public var limitBytes: UInt64?
  enum CodingKeys: String, CodingKey { case usageBytes = "usage_bytes", limitBytes = "limit_bytes" }
}

public struct IOStats: Codable, Sendable, Equatable {
  public var psi: Pressure?
}

public struct MemoryStats: Codable, Sendable, Equatable {
  public var usageBytes: UInt64?
  /// Usage minus inactive file pages: what kubelet evicts on.
  public var workingSetBytes: UInt64?
  public var rssBytes: UInt64?
  public var pageFaults: UInt64?
  public var majorPageFaults: UInt64?
  /// The limit in force (absent when unlimited).
  public var limitBytes: UInt64?
  public var psi: Pressure?
  enum CodingKeys: String, CodingKey {
    case usageBytes = "usage_bytes", workingSetBytes = "working_set_bytes", rssBytes = "rss_bytes"
    case pageFaults = "page_faults", majorPageFaults = "major_page_faults", limitBytes = "limit_bytes", psi
  }
}

public struct InterfaceStats: Codable, Sendable, Equatable {
  public var name: String
  public var rxBytes: UInt64
  public var rxErrors: UInt64
  public var txBytes: UInt64
  public var txErrors: UInt64
  enum CodingKeys: String, CodingKey {
    case name, rxBytes = "rx_bytes", rxErrors = "rx_errors", txBytes = "tx_bytes", txErrors = "tx_errors"
  }
}

public struct WritableLayerStats: Codable, Sendable, Equatable {
  /// The app's overlay upper directory.
  public var path: String
  public var usedBytes: UInt64
  public var inodesUsed: UInt64
  enum CodingKeys: String, CodingKey { case path, usedBytes = "used_bytes", inodesUsed = "inodes_used" }
}

public struct AppStats: Codable, Sendable, Equatable {
  public var name: String
  /// `created`, `running`, `exited` (an app that does not run has no cgroup: no cpu/memory numbers).
  public var state: String
  /// Nanoseconds since the Unix epoch when the numbers were read.
  public var timestampNs: Int64
  public var cpu: CPUStats
  public var memory: MemoryStats
  public var swap: SwapStats
  public var io: IOStats
  public var processCount: UInt64?
  public var writableLayer: WritableLayerStats
  enum CodingKeys: String, CodingKey {
    case name, state, timestampNs = "timestamp_ns", cpu, memory, swap, io, processCount = "process_count"
    case writableLayer = "writable_layer"
  }
}

public struct PodStats: Codable, Sendable, Equatable {
  public var podID: String
  public var timestampNs: Int64
  /// The pod's cgroup: every app together.
  public var cpu: CPUStats
  public var memory: MemoryStats
  public var swap: SwapStats
  public var io: IOStats
  public var processCount: UInt64?
  /// The pod's own network namespace's interfaces; empty for host-network pods.
  public var network: [InterfaceStats]
  public var apps: [AppStats]
  enum CodingKeys: String, CodingKey {
    case podID = "pod_id", timestampNs = "timestamp_ns", cpu, memory, swap, io, processCount = "process_count", network
    case apps
  }
}

/// Reads stats from a pod store and a cgroup hierarchy (a fake one in unit tests).
public struct StatsReader: Sendable {
  public let store: PodStore
  public let cgroups: Cgroups
  /// Where `/proc/<pid>/net/dev` is read (a fake procfs in unit tests).
  public let procRoot: String

  public init(store: PodStore, cgroups: Cgroups = .host(), procRoot: String = "/proc") {
    self.store = store
    self.cgroups = cgroups
    self.procRoot = procRoot
  }

  /// The pod's stats with every app's, or only the app `app` when given (NOT_FOUND when it has none).
  public func stats(_ id: String, app: String? = nil) throws(LiftoffError) -> PodStats {
    guard let place = store.locate(id) else { throw .notFound("pod \(id) not found") }
    let manifest = try store.readManifest(id, at: place)
    if let app, manifest.app(named: app) == nil { throw .notFound("pod \(id) has no app \(app)") }
    let now = Self.nowNanoseconds()
    let running = place == .run && ((try? FileLock.isHeld(store.path(place, id))) ?? false)
    let cgroups = self.cgroups.of(manifest)
    let pod = running ? cgroups.stats(pod: id) : CgroupStats()
    var network: [InterfaceStats] = []
    if running && manifest.network.mode != .host, let pid = stage1PID(id, place) {
      let text = (try? FileSystem.readString("\(procRoot)/\(pid)/net/dev")) ?? ""
      network = NetworkDeviceStats.parse(text).map {
        InterfaceStats(name: $0.name, rxBytes: $0.rxBytes, rxErrors: $0.rxErrors, txBytes: $0.txBytes, txErrors: $0.txErrors)
      }
    }
    var apps: [AppStats] = []
    for a in manifest.apps where app == nil || a.name == app {
      let state = store.readAppState(id, at: place, app: a.name)
      let phase = state?.phase.rawValue ?? "created"
      let cg = running && state?.isRunning == true ? cgroups.stats(pod: id, app: a.name) : CgroupStats()
      let upper = "\(store.path(place, id))/apps/\(a.name)/rootfs/upper"
      let layer = FilesystemUsage.measure(upper)
      apps.append(
        AppStats(
          name: a.name, state: phase, timestampNs: Self.nowNanoseconds(), cpu: CPUStats(cg), memory: MemoryStats(cg),
          swap: SwapStats(cg), io: IOStats(psi: cg.ioPressure), processCount: cg.pids,
          writableLayer: WritableLayerStats(path: upper, usedBytes: layer.usedBytes, inodesUsed: layer.inodesUsed)))
    }
    return PodStats(
      podID: id, timestampNs: now, cpu: CPUStats(pod), memory: MemoryStats(pod), swap: SwapStats(pod),
      io: IOStats(psi: pod.ioPressure), processCount: pod.pids,
      network: network, apps: apps)
  }

  func stage1PID(_ id: String, _ place: PodStore.Place) -> Int32? {
    guard let text = try? FileSystem.readString("\(store.path(place, id))/stage1/pid") else { return nil }
    return Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
  }

  static func nowNanoseconds() -> Int64 {
    let t = Clock.now()
    return t.seconds * 1_000_000_000 + t.nanoseconds
  }
}

extension CPUStats {
  init(_ s: CgroupStats) {
    usageCoreNanoseconds = s.cpuUsageNanos
    psi = s.cpuPressure
  }
}

extension SwapStats {
  init(_ s: CgroupStats) {
    usageBytes = s.swapUsage
    limitBytes = s.swapLimit
  }
}

extension MemoryStats {
  init(_ s: CgroupStats) {
    usageBytes = s.memoryUsage
    workingSetBytes = s.workingSet
    rssBytes = s.rss
    pageFaults = s.pageFaults
    majorPageFaults = s.majorPageFaults
    limitBytes = s.memoryLimit
    psi = s.memoryPressure
  }
}
