// `liftoff app stats` and `liftoff app update`: an app's usage and a live change of its limits (what
// the CRI stats RPCs and UpdateContainerResources drive).
import ArgumentParser
import Foundation
import LiftoffCLI
import LiftoffCore
import LiftoffPod

struct AppStatsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stats", abstract: "Usage of a pod and its apps: CPU, memory, processes, writable layers, network.")
  @OptionGroup var global: GlobalOptions
  @Option var format: OutputFormat = .text
  @Option(help: "Only this app.") var app: String?
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws {
    let store = try PodStore(root: global.dir)
    let s = try AppManager(store: store).stats(try store.resolve(id).id, app: app)
    if format == .json { return try printJSON(s) }
    func n(_ v: UInt64?) -> String { v.map(String.init) ?? "-" }
    print(["NAME", "STATE", "CPU NS", "MEM WORKING SET", "MEM RSS", "PIDS", "WRITABLE BYTES"].joined(separator: "\t"))
    for a in s.apps {
      print(
        [a.name, a.state, n(a.cpu.usageCoreNanoseconds), n(a.memory.workingSetBytes), n(a.memory.rssBytes), n(a.processCount),
         String(a.writableLayer.usedBytes)].joined(separator: "\t"))
    }
    for i in s.network { print("net \(i.name): rx \(i.rxBytes) bytes \(i.rxErrors) errors, tx \(i.txBytes) bytes \(i.txErrors) errors") }
  }
}

struct AppUpdateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "update",
    abstract: "Change an app's resource limits live (cgroup files) and record them in pod.json; without --app, the pod's own cgroup (bounding all its apps).",
    discussion: "Flags: " + AppArguments.resourceHelp)
  @OptionGroup var global: GlobalOptions
  @Option(help: "The app (none: the pod's own cgroup).") var app: String?
  @Option(help: "Memory limit (64M).") var memory: String?
  @Option(help: "Memory + swap limit, or -1 for unlimited swap.") var memorySwap: String?
  @Option(help: "CPU limit in millicores (500m) or CPUs (1.5).") var cpu: String?
  @Option(help: "CFS period in µs.") var cpuPeriod: String?
  @Option(help: "CFS quota in µs per period, -1 for none.") var cpuQuota: String?
  @Option(help: "CPU shares (2…262144).") var cpuShares: String?
  @Option(help: "CPUs the app may run on (0-1,3).") var cpusetCpus: String?
  @Option(help: "Memory nodes the app may use (0).") var cpusetMems: String?
  @Option(help: "Process limit, -1 for none.") var pids: String?
  @Option(help: "Hugepage limit SIZE=LIMIT, e.g. 2MB=64M (repeatable).") var hugepage: [String] = []
  @Option(help: "cgroup v2 file FILE=VALUE, e.g. memory.high=64M (repeatable).") var unified: [String] = []
  @Option(help: "oom_score_adj (-1000…1000) of the app's processes, never below liftoff's own (with --app).")
  var oomScoreAdj: Int?
  @Option var format: OutputFormat = .text
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws {
    var r = AppResources()
    let given: [(String, String?)] = [
      ("--memory", memory), ("--memory-swap", memorySwap), ("--cpu", cpu), ("--cpu-period", cpuPeriod),
      ("--cpu-quota", cpuQuota), ("--cpu-shares", cpuShares), ("--cpuset-cpus", cpusetCpus), ("--cpuset-mems", cpusetMems),
      ("--pids", pids),
    ] + hugepage.map { ("--hugepage", $0) } + unified.map { ("--unified", $0) }
    for case (let flag, let value?) in given { try AppArguments.parseResource(flag, value, into: &r) }
    var none: [String] = []  // `app update` leaves nothing to delete
    let result = try Stage0Command.perform(
      .update(pod: id, app: app, resources: r, oomScoreAdj: oomScoreAdj), global.values, afterAnswer: &none)
    if format == .json { print(result.serialized(pretty: true)) }
  }

  /// The change; returns the values now in force.
  static func update(dir: String, pod id: String, app: String?, _ r: AppResources, oomScoreAdj: Int?) throws -> JSON {
    guard !r.isEmpty || oomScoreAdj != nil else { throw LiftoffError.invalidArgument("app update needs at least one resource flag") }
    if oomScoreAdj != nil && app == nil { throw LiftoffError.invalidArgument("--oom-score-adj needs --app: a pod has none of its own") }
    let store = try PodStore(root: dir)
    let pod = try store.resolve(id).id
    let manager = AppManager(store: store)
    return try app.map { a throws(LiftoffError) in try manager.update(pod, app: a, r, oomScoreAdj: oomScoreAdj) }.map(\.json) ?? manager.updatePod(pod, r).json
  }
}
