// liftoff-cri's Prometheus endpoint (`--metrics-address`), scraped with a real HTTP client on
// 127.0.0.1 while real RPCs go over the real CRI socket: RPC latency histograms and error counts by
// gRPC code, image pulls (bytes, duration, failures), CNI plugin durations and failures (reported by the
// `liftoff` processes that ran them), and pods and containers by state.
import Foundation
#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif
import GRPCCore
import LiftoffCRI
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct MetricsTests {
  /// The URL liftoff-cri logged for its metrics endpoint (port 0: the one it got).
  static func metricsURL(_ server: CRITestServer) throws -> URL {
    for line in server.log().split(separator: "\n") where line.contains("metrics server listening") {
      if let r = line.range(of: "http://") {
        let url = String(line[r.lowerBound...].prefix { !$0.isWhitespace })
        return try #require(URL(string: url))
      }
    }
    throw CancellationError()
  }

  static func get(_ url: URL, method: String = "GET") async throws -> (Int, String, String) {
    var request = URLRequest(url: url)
    request.httpMethod = method
    let (data, response) = try await URLSession.shared.data(for: request)
    let http = try #require(response as? HTTPURLResponse)
    return (http.statusCode, http.value(forHTTPHeaderField: "Content-Type") ?? "", String(decoding: data, as: UTF8.self))
  }

  /// The value of the sample `name{labels}` (labels exactly as written, in order), or nil.
  static func sample(_ text: String, _ series: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
      return Double(line.dropFirst(series.count + 1).split(separator: " ")[0])
    }
    return nil
  }

  @Test(.needsRegistry) func scrapeAfterRealRPCs() async throws {
    let reg = try TestEnvironment.requireRegistry()
    let server = try CRITestServer(extraArguments: ["--metrics-address", "127.0.0.1:0"])
    defer { server.stop() }
    let url = try Self.metricsURL(server)
    #expect(url.host == "127.0.0.1" && url.path == "/metrics" && url.port != 0)

    // Before any RPC: pods and containers are there, at zero.
    let (status0, type0, text0) = try await Self.get(url)
    #expect(status0 == 200)
    #expect(type0.hasPrefix("text/plain; version=0.0.4"))
    #expect(Self.sample(text0, #"liftoff_cri_pods{state="ready"}"#) == 0)
    #expect(Self.sample(text0, #"liftoff_cri_containers{state="running"}"#) == 0)

    try await server.withClients { runtime, images in
      _ = try await runtime.version(.init())
      _ = try await runtime.version(.init())
      var missing = Runtime_V1_ContainerStatusRequest()
      missing.containerID = "ffffffffffff"
      await expectRPCError(.notFound, "") { _ = try await runtime.containerStatus(missing) }
      var badPull = Runtime_V1_PullImageRequest()
      badPull.image.image = "\(reg)/liftoff-test/nope:1"
      await expectRPCError(.notFound, "") { _ = try await images.pullImage(badPull) }
      let sandboxID = try await pullAndRunSandbox(runtime, images, image: "\(reg)/liftoff-test/busybox", name: "metrics")
      _ = try await createAndStart(runtime, sandboxID: sandboxID, containerConfig("sleeper", image: "\(reg)/liftoff-test/busybox", "sleep 300"))
      var create = Runtime_V1_CreateContainerRequest()
      create.podSandboxID = sandboxID
      create.config = containerConfig("idle", image: "\(reg)/liftoff-test/busybox", "true")
      _ = try await runtime.createContainer(create)
      // A server-streaming RPC is timed until its last message.
      _ = try await images.streamImages(.init()) { response in
        for try await _ in response.messages {}
      }
    }

    let (status, _, text) = try await Self.get(url)
    #expect(status == 200)
    #expect(Self.sample(text, #"liftoff_cri_rpc_duration_seconds_count{rpc="Version"}"#) == 2, "\(text)")
    #expect((Self.sample(text, #"liftoff_cri_rpc_duration_seconds_sum{rpc="Version"}"#) ?? -1) > 0)
    #expect(Self.sample(text, #"liftoff_cri_rpc_duration_seconds_bucket{rpc="RunPodSandbox",le="+Inf"}"#) == 1)
    #expect(Self.sample(text, #"liftoff_cri_rpc_duration_seconds_count{rpc="StreamImages"}"#) == 1)
    #expect(Self.sample(text, #"liftoff_cri_rpc_errors_total{rpc="ContainerStatus",code="NotFound"}"#) == 1)
    #expect(Self.sample(text, #"liftoff_cri_rpc_errors_total{rpc="PullImage",code="NotFound"}"#) == 1)
    #expect(Self.sample(text, #"liftoff_cri_rpc_errors_total{rpc="Version",code="NotFound"}"#) == nil)
    #expect(Self.sample(text, "liftoff_cri_image_pulls_total") == 1)
    #expect(Self.sample(text, #"liftoff_cri_image_pull_failures_total{code="NotFound"}"#) == 1)
    #expect(Self.sample(text, "liftoff_cri_image_pull_duration_seconds_count") == 1)
    // The busybox layer and config came over the wire: more than 100 kB (busybox-static).
    #expect((Self.sample(text, "liftoff_cri_image_pull_bytes_total") ?? 0) > 100_000, "\(text)")
    #expect(Self.sample(text, #"liftoff_cri_pods{state="ready"}"#) == 1)
    #expect(Self.sample(text, #"liftoff_cri_pods{state="notready"}"#) == 0)
    #expect(Self.sample(text, #"liftoff_cri_containers{state="running"}"#) == 1)
    #expect(Self.sample(text, #"liftoff_cri_containers{state="created"}"#) == 1)

    // Only GET /metrics.
    let (notFound, _, _) = try await Self.get(url.deletingLastPathComponent().appendingPathComponent("other"))
    #expect(notFound == 404)
    let (notAllowed, _, _) = try await Self.get(url, method: "POST")
    #expect(notAllowed == 405)
  }

  /// CNI plugins run inside the `liftoff` processes liftoff-cri starts; their durations reach the
  /// endpoint through liftoff's report lines: ADD of each plugin at RunPodSandbox, DEL at StopPodSandbox,
  /// and a failing plugin counted as a failure, its error message free of report lines.
  @Test func cniPluginDurationsAfterSandboxLifecycle() async throws {
    let bin = FileManager.default.temporaryDirectory.appendingPathComponent("liftoff-cnibin-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: bin) }
    try """
      #!/bin/sh
      cat >/dev/null
      if [ "$CNI_COMMAND" = ADD ]; then echo '{"cniVersion":"1.0.0","code":11,"msg":"refused by test"}'; exit 1; fi
      exit 0
      """.write(toFile: bin + "/liftofftestfail", atomically: true, encoding: .utf8)
    chmod(bin + "/liftofftestfail", 0o755)
    let server = try CRITestServer(extraArguments: [
      "--metrics-address", "127.0.0.1:0", "--cni-bin-dir", "\(bin):/usr/lib/cni:/opt/cni/bin",
    ])
    defer { server.stop() }
    let url = try Self.metricsURL(server)
    try await server.withClients { runtime, _ in
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("cnimetrics")
      let id = try await runtime.runPodSandbox(run).podSandboxID
      var stop = Runtime_V1_StopPodSandboxRequest()
      stop.podSandboxID = id
      _ = try await runtime.stopPodSandbox(stop)
    }
    let (_, _, text) = try await Self.get(url)
    for plugin in ["bridge", "portmap", "loopback"] {
      for command in ["ADD", "DEL"] {
        let series = #"liftoff_cri_cni_plugin_duration_seconds_count{plugin="\#(plugin)",command="\#(command)"}"#
        #expect(Self.sample(text, series) == 1, "\(series): \(text)")
      }
    }
    let bridgeAdd = try #require(Self.sample(text, #"liftoff_cri_cni_plugin_duration_seconds_sum{plugin="bridge",command="ADD"}"#))
    #expect(bridgeAdd > 0 && bridgeAdd < 30, "\(bridgeAdd)")
    #expect(Self.sample(text, #"liftoff_cri_cni_plugin_duration_seconds_bucket{plugin="bridge",command="ADD",le="+Inf"}"#) == 1)
    #expect(!text.contains("liftoff_cri_cni_plugin_failures_total{"), "\(text)")

    // A plugin that fails ADD: counted by plugin and command; the error is the plugin's, without report lines.
    try #"{"cniVersion":"1.0.0","name":"\#(server.networkName)","plugins":[{"type":"loopback"},{"type":"liftofftestfail"}]}"#
      .write(toFile: server.cniConfDir + "/10-test.conflist", atomically: true, encoding: .utf8)
    try await server.withClients { runtime, _ in
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("cnifail")
      do {
        _ = try await runtime.runPodSandbox(run)
        Issue.record("a failing plugin's ADD was not an error")
      } catch let e as RPCError {
        #expect(e.message.contains("refused by test") && !e.message.contains("liftoff-cni-plugin-run"), "\(e.message)")
      }
    }
    let (_, _, after) = try await Self.get(url)
    #expect(Self.sample(after, #"liftoff_cri_cni_plugin_failures_total{plugin="liftofftestfail",command="ADD"}"#) == 1, "\(after)")
    #expect(Self.sample(after, #"liftoff_cri_cni_plugin_duration_seconds_count{plugin="liftofftestfail",command="ADD"}"#) == 1)
    #expect(Self.sample(after, #"liftoff_cri_cni_plugin_duration_seconds_count{plugin="loopback",command="ADD"}"#) == 2)
    #expect((Self.sample(after, #"liftoff_cri_cni_plugin_duration_seconds_count{plugin="liftofftestfail",command="DEL"}"#) ?? 0) >= 1, "rolled back")
  }

  /// Without the flag nothing listens; a bad address stops liftoff-cri at start, naming the setting.
  @Test func offByDefaultAndBadAddressRefused() throws {
    let server = try CRITestServer(network: false)
    defer { server.stop() }
    #expect(!server.log().contains("metrics server listening"))
    for bad in ["127.0.0.1", "localhost:9090", "::1:9090", "127.0.0.1:99999"] {
      let (status, _, err) = try runLiftoffCRI(["config", "--metrics-address", bad])
      #expect(status != 0, "\(bad)")
      #expect(err.contains("metrics-address \"\(bad)\""), "\(bad): \(err)")
    }
    let (ok, out, _) = try runLiftoffCRI(["config", "--metrics-address", "[::1]:9090"])
    #expect(ok == 0)
    #expect(out.contains("metrics-address = \"[::1]:9090\""))
  }
}
