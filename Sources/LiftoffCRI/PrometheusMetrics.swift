// liftoff-cri's Prometheus metrics (swift-prometheus), served in the text exposition format by
// MetricsServer when `--metrics-address` is set. Recorded always (a few atomics per RPC); the pod and
// container gauges are read from the disk at each scrape, as every other read is.
//
//   liftoff_cri_rpc_duration_seconds{rpc}            histogram: every CRI RPC, success or not
//   liftoff_cri_rpc_errors_total{rpc,code}           failed RPCs by gRPC code (NotFound, Internal, …)
//   liftoff_cri_image_pull_duration_seconds          histogram: successful PullImage calls
//   liftoff_cri_image_pull_bytes_total               bytes downloaded by successful and failed pulls
//   liftoff_cri_image_pulls_total                    successful pulls
//   liftoff_cri_image_pull_failures_total{code}      failed pulls by gRPC code
//   liftoff_cri_cni_plugin_duration_seconds{plugin,command}  histogram: every CNI plugin invocation
//                                                    of the `liftoff` processes liftoff-cri ran, as they reported it
//   liftoff_cri_cni_plugin_failures_total{plugin,command}    failed ones (an error result, a timeout, no start)
//   liftoff_cri_pods{state}                          sandboxes: ready, notready
//   liftoff_cri_containers{state}                    containers: created, running, exited, unknown
import GRPCCore
import LiftoffNet
import Prometheus

public final class PrometheusMetrics: Sendable {
  public let registry = PrometheusCollectorRegistry()

  static let rpcBuckets: [Duration] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000]
    .map { Duration.microseconds(Int64($0 * 1000)) }
  static let pullBuckets: [Duration] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]
    .map { Duration.milliseconds(Int64($0 * 1000)) }

  public init() {}

  static func name(_ metric: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(namespace: "liftoff_cri", metricName: metric, unitName: "", helpText: help)
  }

  /// One finished RPC: its duration, and its gRPC code when it failed.
  func observeRPC(_ rpc: String, duration: Duration, failure: RPCError.Code?) {
    registry.makeDurationHistogram(
      descriptor: Self.name("rpc_duration_seconds", "Duration of CRI RPCs, by RPC."),
      labels: [("rpc", rpc)], buckets: Self.rpcBuckets
    ).record(duration)
    if let failure {
      registry.makeCounter(
        descriptor: Self.name("rpc_errors_total", "Failed CRI RPCs, by RPC and gRPC status code."),
        labels: [("rpc", rpc), ("code", Self.codeName(failure))]
      ).increment()
    }
  }

  /// One finished PullImage: bytes downloaded (cached blobs cost none), duration, and its failure.
  func observePull(bytes: Int64, duration: Duration, failure: RPCError.Code?) {
    registry.makeCounter(descriptor: Self.name("image_pull_bytes_total", "Bytes downloaded by image pulls.")).increment(by: bytes)
    if let failure {
      registry.makeCounter(
        descriptor: Self.name("image_pull_failures_total", "Failed image pulls, by gRPC status code."),
        labels: [("code", Self.codeName(failure))]
      ).increment()
    } else {
      registry.makeCounter(descriptor: Self.name("image_pulls_total", "Successful image pulls.")).increment()
      registry.makeDurationHistogram(
        descriptor: Self.name("image_pull_duration_seconds", "Duration of successful image pulls."),
        buckets: Self.pullBuckets
      ).record(duration)
    }
  }

  static let cniBuckets: [Duration] = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000]
    .map { Duration.microseconds(Int64($0 * 1000)) }

  /// One CNI plugin invocation a `liftoff` process reported (Stage0.swift).
  func observeCNIPlugin(_ run: CNIPluginRun) {
    let labels = [("plugin", run.plugin), ("command", run.command)]
    registry.makeDurationHistogram(
      descriptor: Self.name("cni_plugin_duration_seconds", "Duration of CNI plugin invocations, by plugin type and command."),
      labels: labels, buckets: Self.cniBuckets
    ).record(.nanoseconds(Int64((run.seconds * 1e9).rounded())))
    if !run.success {
      registry.makeCounter(
        descriptor: Self.name("cni_plugin_failures_total", "Failed CNI plugin invocations, by plugin type and command."),
        labels: labels
      ).increment()
    }
  }

  /// Sets the pod and container gauges from the current counts (every state, zeros included).
  func setCounts(pods: [String: Int], containers: [String: Int]) {
    for state in ["ready", "notready"] {
      registry.makeGauge(descriptor: Self.name("pods", "Pod sandboxes, by state."), labels: [("state", state)])
        .set(Int64(pods[state] ?? 0))
    }
    for state in ["created", "running", "exited", "unknown"] {
      registry.makeGauge(descriptor: Self.name("containers", "Containers, by state."), labels: [("state", state)])
        .set(Int64(containers[state] ?? 0))
    }
  }

  /// The gRPC code's canonical name, as grpc-go and the Prometheus gRPC middlewares spell it.
  static func codeName(_ code: RPCError.Code) -> String {
    switch code {
    case .cancelled: "Canceled"
    case .unknown: "Unknown"
    case .invalidArgument: "InvalidArgument"
    case .deadlineExceeded: "DeadlineExceeded"
    case .notFound: "NotFound"
    case .alreadyExists: "AlreadyExists"
    case .permissionDenied: "PermissionDenied"
    case .resourceExhausted: "ResourceExhausted"
    case .failedPrecondition: "FailedPrecondition"
    case .aborted: "Aborted"
    case .outOfRange: "OutOfRange"
    case .unimplemented: "Unimplemented"
    case .internalError: "Internal"
    case .unavailable: "Unavailable"
    case .dataLoss: "DataLoss"
    case .unauthenticated: "Unauthenticated"
    default: "Code\(code.rawValue)"
    }
  }
}

extension CRIRuntime {
  /// The exposition text: the gauges refreshed from the disk first.
  func renderMetrics() -> [UInt8] {
    var pods: [String: Int] = [:]
    var containers: [String: Int] = [:]
    if let sandboxes = try? sandboxes() {
      for s in sandboxes { pods[s.ready ? "ready" : "notready", default: 0] += 1 }
      for c in (try? self.containers(in: sandboxes)) ?? [] {
        let state =
          switch c.state {
          case .containerCreated: "created"
          case .containerRunning: "running"
          case .containerExited: "exited"
          default: "unknown"
          }
        containers[state, default: 0] += 1
      }
    }
    prometheus.setCounts(pods: pods, containers: containers)
    return prometheus.registry.emitToBuffer()
  }
}
