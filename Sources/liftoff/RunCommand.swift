import ArgumentParser
import Foundation
import LiftoffCore
import LiftoffPod

/// Pod-level flags shared by `run` and `prepare`.
struct PodArguments: ParsableArguments {
  @Option(help: "Network: host or none (CNI networks come with LiftoffNet).")
  var net: String = "none"
  @Option(help: "The pod's hostname (default liftoff-<id prefix>).")
  var hostname: String?
  @Option(help: "stage1 flavor: default or fly.")
  var stage1: String = "default"
  @Flag(help: "Give the app this terminal's stdin (one app only).")
  var interactive = false
  @Option(help: "Seconds between the stop signal and SIGKILL when the pod is stopped.")
  var stopTimeout: Int = 10
  @Option(help: "Pod annotation KEY=VALUE (repeatable).")
  var annotation: [String] = []
  @Option(help: "Pod label KEY=VALUE (repeatable).")
  var label: [String] = []

  @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("IMAGE [app flags] [-- ARGS] [--- IMAGE …]", discussion: AppArguments.help))
  var apps: [String] = []

  func podOptions(allowNoApps: Bool = false) throws -> PodOptions {
    var p = PodOptions()
    guard let flavor = PodManifest.Flavor(rawValue: stage1) else {
      throw LiftoffError.invalidArgument("--stage1 \(stage1): expected default or fly")
    }
    p.flavor = flavor
    switch net {
    case "host": p.network = .host
    case "none": p.network = .none
    default: throw LiftoffError.unimplemented("--net=\(net): CNI networks are not wired into liftoff yet; use host or none")
    }
    if flavor == .fly && net == "none" && !CommandLine.arguments.contains(where: { $0.hasPrefix("--net") }) {
      p.network = .host
    }
    p.hostname = hostname
    p.stopTimeoutSeconds = stopTimeout
    func kv(_ list: [String], _ what: String) throws -> [String: String] {
      var out: [String: String] = [:]
      for s in list {
        let f = s.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard f.count == 2, !f[0].isEmpty else { throw LiftoffError.invalidArgument("--\(what) \(s): expected KEY=VALUE") }
        out[f[0]] = f[1]
      }
      return out
    }
    p.annotations = try kv(annotation, "annotation")
    p.labels = try kv(label, "label")
    if !(allowNoApps && apps.isEmpty) {
      p.apps = try AppArguments.parse(apps, resolver: RootfsDirectoryResolver(), interactive: interactive)
    }
    if interactive && p.apps.count > 1 { throw LiftoffError.invalidArgument("--interactive needs a pod of one app") }
    return p
  }
}

struct RunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run", abstract: "Prepare a pod and run it in the foreground; exits with the app's status.")
  @OptionGroup var global: GlobalOptions
  @OptionGroup var pod: PodArguments

  func run() throws {
    let store = try PodStore(root: global.dir)
    let options = try pod.podOptions()
    let (manifest, lock) = try PodPreparer(store: store).prepare(options)
    try PodManager(store: store).execPrepared(manifest.id, lock: lock)
  }
}

struct PrepareCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "prepare", abstract: "Prepare a pod and print its ID; run it with run-prepared.")
  @OptionGroup var global: GlobalOptions
  @OptionGroup var pod: PodArguments

  func run() throws {
    let store = try PodStore(root: global.dir)
    let (manifest, _) = try PodPreparer(store: store).prepare(try pod.podOptions())
    print(manifest.id)
  }
}

struct RunPreparedCommand: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "run-prepared", abstract: "Run a prepared pod in the foreground.")
  @OptionGroup var global: GlobalOptions
  @Argument(help: "Pod ID or unique prefix.") var id: String

  func run() throws {
    let store = try PodStore(root: global.dir)
    let (full, place) = try store.resolve(id)
    guard place == .prepared else {
      throw LiftoffError(.failedPrecondition, "pod \(full) is \(place.rawValue), not prepared")
    }
    try PodManager(store: store).execPrepared(full)
  }
}
