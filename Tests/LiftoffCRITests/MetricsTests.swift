// liftoff-cri's Prometheus endpoint (`--metrics-address`), scraped with a real HTTP client on
// 127.0.0.1 while real RPCs go over the real CRI socket: RPC latency histograms and error counts by
// gRPC code, image pulls (bytes, duration, failures), and pods and containers by state.
import Foundation
#if canImport(FoundationNetworking)
  import FoundationNetworking
#endif
import GRPCCore
import LiftoffCRI
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

  @Test func scrapeAfterRealRPCs() async throws {
    guard let env = ImageServiceTests.registry() else { return }
    let reg = env["LIFTOFF_TEST_REGISTRY"]!
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
