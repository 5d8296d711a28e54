// ListMetricDescriptors: the metrics ListPodSandboxMetrics reports, with cAdvisor's names (what
// kubelet's /metrics/cadvisor serves when it takes pod and container stats from the CRI). Labels as
// containerd's: `id` and `name` (the container's, or the sandbox's for pod-level metrics), plus
// `interface` for network metrics. Values are integers in the metric's unit (whole seconds for CPU
// time, as CRI-O reports them).
import GRPCCore
import LiftoffCore

enum CRIMetrics {
  static let baseLabelKeys = ["id", "name"]

  /// name, help, type, extra label keys.
  static let descriptors: [(String, String, Runtime_V1_MetricType, [String])] = [
    ("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", .counter, []),
    ("container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", .gauge, []),
    ("container_memory_working_set_bytes", "Current working set in bytes.", .gauge, []),
    ("container_memory_rss", "Size of RSS in bytes.", .gauge, []),
    ("container_spec_memory_limit_bytes", "Memory limit for the container.", .gauge, []),
    ("container_processes", "Number of processes running inside the container.", .gauge, []),
    ("container_fs_usage_bytes", "Number of bytes that are consumed by the container on this filesystem.", .gauge, []),
    ("container_fs_inodes_total", "Number of inodes used by the container's writable layer.", .gauge, []),
    ("container_network_receive_bytes_total", "Cumulative count of bytes received.", .counter, ["interface"]),
    ("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", .counter, ["interface"]),
    ("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", .counter, ["interface"]),
    ("container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", .counter, ["interface"]),
  ]

  static func type(of name: String) -> Runtime_V1_MetricType {
    descriptors.first { $0.0 == name }?.2 ?? .gauge
  }
}

extension RuntimeService {
  public func listMetricDescriptors(
    request: Runtime_V1_ListMetricDescriptorsRequest, context: ServerContext
  ) async throws -> Runtime_V1_ListMetricDescriptorsResponse {
    try await handle("ListMetricDescriptors", runtime) {
      var response = Runtime_V1_ListMetricDescriptorsResponse()
      response.descriptors = CRIMetrics.descriptors.map { name, help, _, extra in
        var d = Runtime_V1_MetricDescriptor()
        d.name = name
        d.help = help
        d.labelKeys = CRIMetrics.baseLabelKeys + extra
        return d
      }
      return response
    }
  }
}
