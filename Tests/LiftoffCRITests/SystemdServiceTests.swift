// liftoff-cri as the systemd service deploy/liftoff-cri.service describes (Type=notify, KillMode=process),
// under a real systemd as PID 1 — the VM's profile `systemd` (hack/vm/test.sh); skipped elsewhere. The
// unit file in the tree is the one installed, with only its ExecStart pointed at this build and a
// private socket and state directory: `systemctl start` returns only after READY=1, and
// `systemctl restart` with pods running loses none of them (stage1 lives in a scope of its own).
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffOS
import LiftoffTestSupport
import Testing

@Suite(.serialized, .enabled(if: TestEnvironment.isRoot && Cgroups.systemdIsRunning, "needs root and systemd as PID 1"))
struct SystemdServiceTests {
  /// deploy/liftoff-cri.service, from the source tree this test was built from.
  static var unitTemplate: String {
    let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    return repo.appendingPathComponent("deploy/liftoff-cri.service").path
  }

  /// `systemctl ARGS…`: its exit status and output.
  @discardableResult
  static func systemctl(_ args: String...) throws -> (status: Int32, output: String) {
    try SystemdCgroupDriverTests.systemctl(args)
  }

  static func property(_ unit: String, _ name: String) throws -> String { try SystemdCgroupDriverTests.property(unit, name) }

  /// deploy/liftoff-cri.socket, from the same tree.
  static var socketTemplate: String {
    (unitTemplate as NSString).deletingLastPathComponent + "/liftoff-cri.socket"
  }

  /// A unit file from the tree with the lines starting with a key of `replacing` replaced.
  static func unit(from template: String, replacing: [String: String]) throws -> String {
    let text = try String(contentsOfFile: template, encoding: .utf8)
    return text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
      for (key, value) in replacing where line.hasPrefix(key + "=") { return "\(key)=\(value)" }
      return String(line)
    }.joined(separator: "\n")
  }

  /// The socket unit holds the CRI socket: the first connection starts the service, which serves on the
  /// socket systemd passed; `systemctl restart` of the service refuses no client (calls made while it
  /// restarts wait in the socket's backlog); stopping the socket unit removes the file.
  @Test func socketActivationStartsTheServiceAndKeepsTheSocketAcrossRestarts() async throws {
    let server = try CRITestServer(network: false)
    server.kill(SIGTERM)
    let name = "liftoff-cri-test-\(UUID().uuidString.prefix(8).lowercased())"
    let socketUnit = "/run/systemd/system/\(name).socket"
    let serviceUnit = "/run/systemd/system/\(name).service"
    defer {
      try? Self.systemctl("stop", name + ".service", name + ".socket")
      try? FileManager.default.removeItem(atPath: socketUnit)
      try? FileManager.default.removeItem(atPath: serviceUnit)
      try? Self.systemctl("daemon-reload")
      server.stop()
    }
    try Self.unit(from: Self.socketTemplate, replacing: ["ListenStream": server.socket])
      .write(toFile: socketUnit, atomically: true, encoding: .utf8)
    let execStart = ([liftoffBinDir() + "/liftoff-cri"] + server.arguments).joined(separator: " ")
    try Self.unit(from: Self.unitTemplate, replacing: ["ExecStart": execStart])
      .write(toFile: serviceUnit, atomically: true, encoding: .utf8)
    try Self.systemctl("daemon-reload")

    let started = try Self.systemctl("start", name + ".socket")
    #expect(started.status == 0, "\(started.output)")
    var st = stat()
    #expect(stat(server.socket, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK)
    #expect(st.st_mode & 0o777 == 0o660 && st.st_uid == 0)
    try #expect(Self.property(name + ".service", "ActiveState") == "inactive")

    // The first call starts the service.
    let version = try await server.withClients { runtime, _ in try await runtime.version(.init()) }
    #expect(version.runtimeName == "liftoff")
    try #expect(Self.property(name + ".service", "ActiveState") == "active")
    // It serves systemd's socket: the file is the one the socket unit made (binding its own would replace it).
    var after = stat()
    #expect(stat(server.socket, &after) == 0 && after.st_ino == st.st_ino)
    var mainPID = try Self.property(name + ".service", "MainPID")

    // Restarts with calls right behind them: none refused.
    for round in 0..<3 {
      let restarted = try Self.systemctl("restart", "--no-block", name + ".service")
      #expect(restarted.status == 0, "\(restarted.output)")
      let answer = try await server.withClients { runtime, _ in try await runtime.version(.init()) }
      #expect(answer.runtimeName == "liftoff", "round \(round)")
      try await waitUntil { (try? Self.property(name + ".service", "ActiveState")) == "active" }
      let pid = try Self.property(name + ".service", "MainPID")
      #expect(pid != mainPID && pid != "0", "round \(round): MainPID \(pid)")
      mainPID = pid
    }

    // Stopping the service leaves systemd's socket listening; stopping the socket unit removes it.
    try #expect(Self.systemctl("stop", name + ".service").status == 0)
    #expect(canConnect(server.socket))
    try #expect(Self.systemctl("stop", name + ".socket").status == 0)
    #expect(!FileManager.default.fileExists(atPath: server.socket))
  }

  /// With either cgroup driver: cgroupfs (stage1 makes its scope over D-Bus, in systemd's default
  /// slice) and systemd (stage1 makes its delegated scope in the slice liftoff.slice).
  @Test(.needsRegistry, arguments: ["cgroupfs", "systemd"]) func restartingTheServiceKeepsEveryPodRunning(driver: String) async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    // The test's paths and CNI network; the process it started goes, systemd runs the server instead.
    let server = try CRITestServer(extraArguments: ["--cgroup-driver", driver])
    server.kill(SIGTERM)
    let unit = "liftoff-cri-test-\(UUID().uuidString.prefix(8).lowercased()).service"
    let unitPath = "/run/systemd/system/\(unit)"
    defer {
      try? Self.systemctl("stop", unit)
      try? FileManager.default.removeItem(atPath: unitPath)
      try? Self.systemctl("daemon-reload")
      server.stop()
    }
    let template = try String(contentsOfFile: Self.unitTemplate, encoding: .utf8)
    let execStart = ([liftoffBinDir() + "/liftoff-cri"] + server.arguments).joined(separator: " ")
    let text = template.split(separator: "\n", omittingEmptySubsequences: false)
      .map { $0.hasPrefix("ExecStart=") ? "ExecStart=\(execStart)" : String($0) }.joined(separator: "\n")
    #expect(text.contains("Type=notify") && text.contains("KillMode=process"), "\(text)")
    try text.write(toFile: unitPath, atomically: true, encoding: .utf8)
    try Self.systemctl("daemon-reload")

    // Type=notify: start returns once liftoff-cri said READY=1, so the socket is serving already.
    let started = try Self.systemctl("start", unit)
    #expect(started.status == 0, "\(started.output)\n\(server.log())")
    #expect(canConnect(server.socket))
    try #expect(Self.property(unit, "ActiveState") == "active")
    try #expect(Self.property(unit, "StatusText").hasPrefix("serving "))
    let firstPID = try Self.property(unit, "MainPID")

    let pods = try await server.withClients { runtime, images in
      var result: [(sandbox: String, container: String)] = []
      for name in ["keep-a", "keep-b"] {
        let sandbox = try await pullAndRunSandbox(runtime, images, image: image, name: name)
        let container = try await createAndStart(runtime, sandboxID: sandbox, containerConfig(name, image: image, "sleep 100000"))
        result.append((sandbox, container))
      }
      return result
    }
    // Each pod's stage1 is in a scope of its own, not in the service's cgroup.
    var stage1: [String: String] = [:]
    for pod in pods {
      let pid = try String(contentsOfFile: "\(server.dir)/pods/run/\(pod.sandbox)/stage1/pid", encoding: .utf8)
        .trimmingCharacters(in: .whitespacesAndNewlines)
      stage1[pod.sandbox] = pid
      let cgroup = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
      #expect(cgroup.contains("/liftoff-\(pod.sandbox).scope") && !cgroup.contains(unit), "\(cgroup)")
      if driver == "systemd" { #expect(cgroup == "0::/liftoff.slice/liftoff-\(pod.sandbox).scope/_stage1\n") }
      if driver == "cgroupfs" { #expect(cgroup == "0::/system.slice/liftoff-\(pod.sandbox).scope\n") }
      // liftoff-cri took $NOTIFY_SOCKET out of its environment before it ran anything.
      let environ = try String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8)
      #expect(!environ.contains("NOTIFY_SOCKET="), "stage1 of \(pod.sandbox) inherited NOTIFY_SOCKET")
    }

    let restarted = try Self.systemctl("restart", unit)
    #expect(restarted.status == 0, "\(restarted.output)\n\(server.log())")
    try #expect(Self.property(unit, "ActiveState") == "active")
    try #expect(Self.property(unit, "MainPID") != firstPID)

    let pids = stage1
    try await server.withClients { runtime, _ in
      for pod in pods {
        let pid = pids[pod.sandbox]!
        #expect(kill(pid_t(pid)!, 0) == 0, "stage1 \(pid) of \(pod.sandbox) is gone")
        var status = Runtime_V1_ContainerStatusRequest()
        status.containerID = pod.container
        try await #expect(runtime.containerStatus(status).status.state == .containerRunning)
        var sandbox = Runtime_V1_PodSandboxStatusRequest()
        sandbox.podSandboxID = pod.sandbox
        try await #expect(runtime.podSandboxStatus(sandbox).status.state == .sandboxReady)
        try await #expect(execOutput(runtime, pod.container, "echo alive") == "alive\n")
      }
    }

    // Stopping the service leaves the pods too (KillMode=process); then the test removes them.
    try #expect(Self.systemctl("stop", unit).status == 0)
    for pod in pods { #expect(kill(pid_t(stage1[pod.sandbox]!)!, 0) == 0) }
  }
}
