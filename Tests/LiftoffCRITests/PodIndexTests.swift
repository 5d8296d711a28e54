// liftoff-cri answers reads from memory (PodIndex.swift): these tests change pods behind its back — an
// app that exits by itself, `liftoff app stop` run by hand, a stage1 killed outright — and check that
// the reads and the event stream follow, well before the 10 s full reload would have caught them, and
// that a restarted liftoff-cri rebuilds the same view from disk.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct PodIndexTests {
  /// Runs `liftoff --dir DIR ARGS…` and waits for it.
  func liftoff(_ server: CRITestServer, _ arguments: [String]) throws -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: liftoffBinDir() + "/liftoff")
    p.arguments = ["--dir", server.dir] + arguments
    try p.run()
    p.waitUntilExit()
    return p.terminationStatus
  }

  func state(_ runtime: RuntimeClient, _ id: String) async throws -> Runtime_V1_ContainerState {
    var r = Runtime_V1_ContainerStatusRequest()
    r.containerID = id
    return try await runtime.containerStatus(r).status.state
  }

  @Test(.needsRegistry) func readsFollowChangesMadeBehindTheServer() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    let events = EventLog()
    let made = try await server.withClients { runtime, images in
      let listener = Task {
        try await runtime.getContainerEvents(.init()) { response in
          for try await e in response.messages { await events.add(e) }
        }
      }
      defer { listener.cancel() }
      let sandboxID = try await pullAndRunSandbox(runtime, images, image: image, name: "index")

      // An app that exits by itself: its exit code and a STOPPED event, pushed by stage1.
      let quick = try await createAndStart(runtime, sandboxID: sandboxID, containerConfig("quick", image: image, "sleep 0.3; exit 7"))
      #expect(try await eventually(5) { await events.types(of: quick).contains(.containerStoppedEvent) })
      var status = Runtime_V1_ContainerStatusRequest()
      status.containerID = quick
      let s = try await runtime.containerStatus(status).status
      #expect(s.state == .containerExited && s.exitCode == 7, "\(s)")

      // `liftoff app stop` run by hand: ContainerStatus and ListContainers follow.
      let held = try await createAndStart(runtime, sandboxID: sandboxID, containerConfig("held", image: image, "sleep 3600"))
      #expect(try await state(runtime, held) == .containerRunning)
      #expect(try liftoff(server, ["app", "stop", "--app", held, "--timeout", "0", sandboxID]) == 0)
      #expect(try await eventually(5) { try await state(runtime, held) == .containerExited })
      #expect(try await eventually(5) { await events.types(of: held).contains(.containerStoppedEvent) })
      var list = Runtime_V1_ListContainersRequest()
      list.filter.state.state = .containerRunning
      #expect(try await runtime.listContainers(list).containers.filter { $0.podSandboxID == sandboxID }.isEmpty)

      // stage1 killed outright (no datagram): the sandbox is seen NOTREADY through its pidfd.
      let second = try await createAndStart(runtime, sandboxID: sandboxID, containerConfig("second", image: image, "sleep 3600"))
      let pidText = try String(contentsOfFile: "\(server.dir)/pods/run/\(sandboxID)/stage1/pid", encoding: .utf8)
      let stage1 = try #require(Int32(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
      #expect(kill(stage1, SIGKILL) == 0)
      var podStatus = Runtime_V1_PodSandboxStatusRequest()
      podStatus.podSandboxID = sandboxID
      #expect(try await eventually(5) { try await runtime.podSandboxStatus(podStatus).status.state == .sandboxNotready })
      #expect(try await eventually(5) { try await state(runtime, second) == .containerExited })

      return (sandboxID, [quick, held, second])
    }
    // A restarted liftoff-cri rebuilds the same view from disk.
    server.kill(SIGKILL)
    try server.start()
    try await server.withClients { runtime, _ throws in
      var podStatus = Runtime_V1_PodSandboxStatusRequest()
      podStatus.podSandboxID = made.0
      #expect(try await runtime.podSandboxStatus(podStatus).status.state == .sandboxNotready)
      for id in made.1 { #expect(try await state(runtime, id) == .containerExited) }
    }
  }
}
