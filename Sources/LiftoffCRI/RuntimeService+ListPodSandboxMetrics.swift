// ListPodSandboxMetrics and StreamPodSandboxMetrics: for every ready sandbox, the pod's network
// metrics (its namespace's interfaces, loopback left out) and each container's CPU, memory,
// process and writable-layer metrics, read from the kernel now (the numbers of PodSandboxStats, under
// the names ListMetricDescriptors lists). A number that cannot be read (a container that does not
// run has no cgroup) is left out rather than reported as 0.
import GRPCCore
import LiftoffCore
import LiftoffPod

extension RuntimeService {
  public func listPodSandboxMetrics(
    request: Runtime_V1_ListPodSandboxMetricsRequest, context: ServerContext
  ) async throws -> Runtime_V1_ListPodSandboxMetricsResponse {
    try await handle("ListPodSandboxMetrics", runtime) {
      var response = Runtime_V1_ListPodSandboxMetricsResponse()
      response.podMetrics = try sandboxMetrics()
      return response
    }
  }

  public func streamPodSandboxMetrics(
    request: Runtime_V1_StreamPodSandboxMetricsRequest, response: RPCWriter<Runtime_V1_StreamPodSandboxMetricsResponse>,
    context: ServerContext
  ) async throws {
    let metrics = try await handle("StreamPodSandboxMetrics", runtime) { try sandboxMetrics() }
    var start = 0
    repeat {
      var batch = Runtime_V1_StreamPodSandboxMetricsResponse()
      batch.podSandboxMetrics = Array(metrics[start..<min(metrics.count, start + 100)])
      try await response.write(batch)
      start += 100
    } while start < metrics.count
  }

  func sandboxMetrics() throws -> [Runtime_V1_PodSandboxMetrics] {
    let reader = try runtime.statsReader
    var result: [Runtime_V1_PodSandboxMetrics] = []
    for sandbox in try runtime.sandboxes() where sandbox.ready {
      // A sandbox removed since the listing is left out.
      guard let stats = try readStats(reader, sandbox.id) else { continue }
      func metric(_ name: String, _ labels: [String], _ value: UInt64?) -> Runtime_V1_Metric? {
        guard let value else { return nil }
        var m = Runtime_V1_Metric()
        m.name = name
        m.timestamp = stats.timestampNs
        m.metricType = CRIMetrics.type(of: name)
        m.labelValues = labels
        m.value = .init(value)
        return m
      }
      var pod = Runtime_V1_PodSandboxMetrics()
      pod.podSandboxID = sandbox.id
      let podLabels = [sandbox.id, sandbox.name]
      for i in stats.network {
        let l = podLabels + [i.name]
        pod.metrics += [
          metric("container_network_receive_bytes_total", l, i.rxBytes),
          metric("container_network_receive_errors_total", l, i.rxErrors),
          metric("container_network_transmit_bytes_total", l, i.txBytes),
          metric("container_network_transmit_errors_total", l, i.txErrors),
        ].compactMap { $0 }
      }
      for c in try runtime.containers(in: [sandbox]) {
        guard let a = stats.apps.first(where: { $0.name == c.id }) else { continue }
        let l = [c.id, c.name]
        var cm = Runtime_V1_ContainerMetrics()
        cm.containerID = c.id
        cm.metrics = [
          metric("container_cpu_usage_seconds_total", l, a.cpu.usageCoreNanoseconds.map { $0 / 1_000_000_000 }),
          metric("container_memory_usage_bytes", l, a.memory.usageBytes),
          metric("container_memory_working_set_bytes", l, a.memory.workingSetBytes),
          metric("container_memory_rss", l, a.memory.rssBytes),
          metric("container_spec_memory_limit_bytes", l, a.memory.limitBytes),
          metric("container_processes", l, a.processCount),
          metric("container_fs_usage_bytes", l, a.writableLayer.usedBytes),
          metric("container_fs_inodes_total", l, a.writableLayer.inodesUsed),
        ].compactMap { $0 }
        pod.containerMetrics.append(cm)
      }
      result.append(pod)
    }
    return result
  }

  func readStats(_ reader: StatsReader, _ id: String) throws -> PodStats? {
    do {
      return try reader.stats(id)
    } catch {
      if error.code == .notFound { return nil }
      throw error
    }
  }
}
