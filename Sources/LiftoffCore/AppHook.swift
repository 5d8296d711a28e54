// OCI lifecycle hooks of an app (runtime-spec 1.2.0 config.md "POSIX-platform Hooks"; what a CDI
// spec's `containerEdits.hooks` asks for). Stored in pod.json under the app's `"hooks"` key, absent
// when the app has none (older manifests read as "no hooks"):
//   [{"stage": "createContainer", "path": "/usr/bin/nvidia-cdi-hook", "args": ["nvidia-cdi-hook", "…"],
//     "env": ["K=V"], "timeout": 5, "name": "CDI device nvidia.com/gpu=0 (spec /etc/cdi/nvidia.yaml)"}]
// `args`, `env`, `timeout` and `name` are optional. stage1 runs them (liftoff-stage1/AppHooks.swift):
//   prestart, createRuntime   stage1, runtime (host) namespaces, after the app's mounts exist and
//                             before pivot_root; the app's process exists (state "creating")
//   createContainer           the app's process, in its mount namespace after its mounts, before
//                             pivot_root (host paths still visible); state "creating"
//   startContainer            the app's process after pivot_root, as the app's user with its
//                             capabilities, right before execve; path resolved in the container
//   poststart                 stage1, after the app started (state "running"); failure logged only
//   poststop                  stage1, after the app's process was reaped (state "stopped"); failure
//                             logged only
// The hook's stdin is the OCI state (`OCIState`), its environment exactly `env`, argv `args` (or
// [path] when empty). A hook without a timeout is bound by `defaultTimeoutSeconds`.

public struct AppHook: Sendable, Equatable {
  public enum Stage: String, Sendable, CaseIterable {
    case prestart, createRuntime, createContainer, startContainer, poststart, poststop
    /// The state the container is in when hooks of this stage run.
    public var status: String {
      switch self {
      case .prestart, .createRuntime, .createContainer: "creating"
      case .startContainer: "created"
      case .poststart: "running"
      case .poststop: "stopped"
      }
    }
    /// A failure of these fails the start; the others are logged only.
    public var failsStart: Bool { self != .poststart && self != .poststop }
  }

  /// The bound of a hook without a timeout (seconds): a hung hook never holds its caller for longer.
  public static let defaultTimeoutSeconds = 30

  public var stage: Stage
  /// Absolute path of the executable (in the container for startContainer, else on the host).
  public var path: String
  /// argv, argv[0] included; empty: [path].
  public var args: [String] = []
  /// The hook's whole environment.
  public var env: [String] = []
  /// Seconds (> 0) before it is killed and counted as failed; nil: `defaultTimeoutSeconds`.
  public var timeoutSeconds: Int?
  /// What asked for the hook, for errors and logs (e.g. the CDI device and its spec file).
  public var name: String?

  public init(stage: Stage, path: String, args: [String] = [], env: [String] = [], timeoutSeconds: Int? = nil, name: String? = nil) {
    self.stage = stage
    self.path = path
    self.args = args
    self.env = env
    self.timeoutSeconds = timeoutSeconds
    self.name = name
  }

  public var argv: [String] { args.isEmpty ? [path] : args }
  public var bound: Int { timeoutSeconds ?? Self.defaultTimeoutSeconds }
  /// How errors name it: `hook createContainer /usr/bin/x (CDI device …)`.
  public var label: String { "hook \(stage.rawValue) \(path)" + (name.map { " (\($0))" } ?? "") }

  /// Why this hook cannot run, nil when it can.
  public var problem: String? {
    guard path.hasPrefix("/") else { return "path \"\(path)\" is not absolute" }
    if path.contains("\0") || args.contains(where: { $0.contains("\0") }) { return "path or args hold a NUL byte" }
    for v in env where (v.firstIndex(of: "=").map { $0 == v.startIndex } ?? true) || v.contains("\0") {
      return "env \"\(v)\" is not NAME=VALUE"
    }
    if let t = timeoutSeconds, t <= 0 { return "timeout \(t) is not a positive number of seconds" }
    return nil
  }

  public var json: JSON {
    .obj([
      ("stage", .string(stage.rawValue)), ("path", .string(path)), ("args", args.isEmpty ? nil : .strs(args)),
      ("env", env.isEmpty ? nil : .strs(env)), ("timeout", .int(timeoutSeconds)), ("name", .str(name)),
    ])
  }

  /// The value of `--hook STAGE=…`.
  public var jsonWithoutStage: JSON { .object(json.objectValue!.filter { $0.0 != "stage" }) }

  /// `stage` is taken from the JSON, or from `stage` when given (the `--hook STAGE=JSON` flag).
  public init(json j: JSON, stage given: Stage? = nil, in ctx: String) throws(LiftoffError) {
    guard j.objectValue != nil else { throw .invalidArgument("\(ctx): a hook is not an object") }
    if let given {
      stage = given
    } else {
      let s = try j.string("stage", in: ctx)
      guard let st = Stage(rawValue: s) else {
        throw .invalidArgument("\(ctx): unknown hook stage \(s) (\(Stage.allCases.map(\.rawValue).joined(separator: ", ")))")
      }
      stage = st
    }
    path = try j.string("path", in: ctx)
    args = try j.strings("args", in: ctx)
    env = try j.strings("env", in: ctx)
    timeoutSeconds = try j.optInt64("timeout", in: ctx).map { Int(clamping: $0) }
    name = try j.optString("name", in: ctx)
    if let p = problem { throw .invalidArgument("\(ctx): hook \(stage.rawValue) \(path): \(p)") }
  }

  /// The `--hook STAGE=JSON` flag's value: JSON as a runtime-spec hook (`path`, `args`, `env`,
  /// `timeout`) plus an optional `name`.
  public init(flag value: String) throws(LiftoffError) {
    guard let eq = value.firstIndex(of: "="), let stage = Stage(rawValue: String(value[..<eq])) else {
      throw .invalidArgument(
        "--hook \(value.prefix(60)): expected STAGE=JSON with STAGE one of \(Stage.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    let j: JSON
    do { j = try JSON.parse(String(value[value.index(after: eq)...])) } catch {
      throw .invalidArgument("--hook \(stage.rawValue): \(error.message)")
    }
    try self.init(json: j, stage: stage, in: "--hook \(stage.rawValue)")
  }
}

extension AppManifest {
  /// The longest its hooks can hold stage1 (each at most its bound), for callers that wait on stage1.
  public var hookBudgetSeconds: Int { hooks.reduce(0) { $0 + $1.bound } }
}

/// The state of a container (runtime-spec 1.2.0 runtime.md "State"), as a hook reads it on stdin.
public enum OCIState {
  public static let ociVersion = "1.2.0"

  public static func json(id: String, status: String, pid: Int32?, bundle: String, annotations: [String: String]) -> JSON {
    .obj([
      ("ociVersion", .string(ociVersion)), ("id", .string(id)), ("status", .string(status)),
      ("pid", pid.map { JSON(integer: $0) }), ("bundle", .string(bundle)), ("annotations", .map(annotations)),
    ])
  }
}
