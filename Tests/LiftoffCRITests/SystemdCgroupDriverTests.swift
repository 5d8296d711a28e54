// liftoff-cri --cgroup-driver systemd under a real systemd as PID 1 (the VM's profile `systemd`,
// hack/vm/test.sh): each sandbox is the transient scope `liftoff-<id>.scope` in the slice kubelet names,
// made over D-Bus with Delegate=yes; its containers' groups and limits are below it, written by liftoff,
// and a `systemctl daemon-reload` leaves them as they are; the scope is gone after stop and remove; a
// slice systemd refuses fails RunPodSandbox with systemd's reason and leaves nothing behind. Skipped
// (visibly) where systemd is not PID 1, such as the test machine itself: the driver is refused there.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffOS
import LiftoffTestSupport
import Testing

@Suite(.serialized, .enabled(if: TestEnvironment.isRoot && Cgroups.systemdIsRunning, "needs root and systemd as PID 1"))
struct SystemdCgroupDriverTests {
  @discardableResult
  static func systemctl(_ args: String...) throws -> (status: Int32, output: String) { try systemctl(args) }

  static func systemctl(_ args: [String]) throws -> (status: Int32, output: String) {
    try runCommand("/bin/systemctl", args)
  }

  static func property(_ unit: String, _ name: String) throws -> String {
    try systemctl("show", "--value", "-p", name, unit).output.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Waits up to `seconds` for `condition`.
  static func within(_ seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
      if try condition() { return true }
      usleep(100_000)
    }
    return try condition()
  }

  @Test(.needsRegistry) func aSandboxIsADelegatedScopeInItsSliceAndItsLimitsSurviveADaemonReload() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer(extraArguments: ["--cgroup-driver", "systemd"])
    defer { server.stop() }
    let tag = String(format: "%08x", UInt32.random(in: 0...UInt32.max))
    let slice = "liftofftest-pod\(tag).slice"
    defer { _ = try? Self.systemctl("stop", slice, "liftofftest.slice") }
    try await server.withClients { runtime, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = image
      _ = try await images.pullImage(pull)
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("scoped")
      run.config.linux.cgroupParent = slice
      let sandboxID = try await runtime.runPodSandbox(run).podSandboxID
      let unit = "liftoff-\(sandboxID).scope"
      let cgroup = "/liftofftest.slice/\(slice)/\(unit)"

      // The scope: in the slice, delegated, running, holding stage1 (in its leaf _stage1).
      #expect(try Self.property(unit, "ActiveState") == "active")
      #expect(try Self.property(unit, "Slice") == slice)
      #expect(try Self.property(unit, "Delegate") == "yes")
      #expect(try Self.property(unit, "ControlGroup") == cgroup)
      let pid = try String(contentsOfFile: "\(server.dir)/pods/run/\(sandboxID)/stage1/pid", encoding: .utf8)
        .trimmingCharacters(in: .whitespacesAndNewlines)
      let own = try String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)
      #expect(own == "0::\(cgroup)/_stage1\n", "stage1 \(pid): \(own)")

      // A container of 64 MiB: its group below the scope, with the limit liftoff wrote.
      var create = Runtime_V1_CreateContainerRequest()
      create.podSandboxID = sandboxID
      create.sandboxConfig = run.config
      create.config = containerConfig("work", image: image, "sleep 100000")
      create.config.linux.resources.memoryLimitInBytes = 64 << 20
      create.config.linux.resources.cpuPeriod = 100_000
      create.config.linux.resources.cpuQuota = 50_000
      let id = try await runtime.createContainer(create).containerID
      var start = Runtime_V1_StartContainerRequest()
      start.containerID = id
      _ = try await runtime.startContainer(start)
      let group = "/sys/fs/cgroup\(cgroup)/\(id)"
      func read(_ file: String) throws -> String {
        try String(contentsOfFile: "\(group)/\(file)", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
      }
      #expect(try read("memory.max") == "67108864")
      #expect(try read("cpu.max") == "50000 100000")
      #expect(try !read("cgroup.procs").isEmpty)
      #expect(try await execOutput(runtime, id, "cat /sys/fs/cgroup/memory.max") == "67108864\n")

      // systemd rewrites the attributes of the cgroups it manages on daemon-reload; not those in a
      // delegated subtree.
      #expect(try Self.systemctl("daemon-reload").status == 0)
      #expect(try read("memory.max") == "67108864")
      #expect(try read("cpu.max") == "50000 100000")
      #expect(try Self.property(unit, "ActiveState") == "active")
      var status = Runtime_V1_ContainerStatusRequest()
      status.containerID = id
      #expect(try await runtime.containerStatus(status).status.state == .containerRunning)

      // Pod-level limits (UpdatePodSandboxResources) belong to the scope's own group, whose files systemd
      // rewrites from the unit's properties on daemon-reload: they are set as properties too. Before,
      // memory.max went back to max on the reload.
      var resize = Runtime_V1_UpdatePodSandboxResourcesRequest()
      resize.podSandboxID = sandboxID
      resize.resources.memoryLimitInBytes = 100 << 20
      resize.resources.cpuShares = 512
      // cpuset and `unified` keys systemd rewrites from properties (AllowedCPUs, MemoryHigh, IOWeight).
      resize.resources.cpusetCpus = "1"
      resize.resources.unified = ["memory.high": "83886080", "io.weight": "default 50"]
      _ = try await runtime.updatePodSandboxResources(resize)
      func scope(_ file: String) throws -> String {
        try String(contentsOfFile: "/sys/fs/cgroup\(cgroup)/\(file)", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
      }
      #expect(try scope("memory.max") == "104857600")
      #expect(try Self.property(unit, "MemoryMax") == "104857600")
      let weight = try scope("cpu.weight")
      #expect(try scope("cpuset.cpus") == "1")
      #expect(try scope("memory.high") == "83886080")
      #expect(try Self.property(unit, "AllowedCPUs") == "1")
      #expect(try Self.property(unit, "MemoryHigh") == "83886080")
      #expect(try Self.systemctl("daemon-reload").status == 0)
      #expect(try scope("memory.max") == "104857600")
      #expect(try scope("cpu.weight") == weight)
      #expect(try scope("cpuset.cpus") == "1")
      #expect(try scope("memory.high") == "83886080")
      #expect(try scope("io.weight") == "default 50")
      #expect(try read("memory.max") == "67108864")

      // Stop: the scope stops by itself once its last process is gone (no StopUnit on this path), and
      // is unloaded with its cgroup; remove then finds nothing of it.
      var stop = Runtime_V1_StopPodSandboxRequest()
      stop.podSandboxID = sandboxID
      _ = try await runtime.stopPodSandbox(stop)
      #expect(try Self.within(20) { try Self.property(unit, "LoadState") == "not-found" }, "\(unit) is still loaded after stop")
      var remove = Runtime_V1_RemovePodSandboxRequest()
      remove.podSandboxID = sandboxID
      _ = try await runtime.removePodSandbox(remove)
      #expect(try Self.within(20) { try Self.property(unit, "LoadState") == "not-found" }, "\(unit) is still loaded")
      #expect(!FileManager.default.fileExists(atPath: "/sys/fs/cgroup\(cgroup)"))
    }
  }

  @Test func aSliceSystemdRefusesFailsTheSandboxAndLeavesNothing() async throws {
    let server = try CRITestServer(extraArguments: ["--cgroup-driver", "systemd"])
    defer { server.stop() }
    let before = try Self.systemctl("list-units", "--all", "--no-legend", "--plain", "liftoff-*.scope").output
    try await server.withClients { runtime, _ in
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("refused")
      run.config.linux.cgroupParent = "liftoff#test.slice"  // a cgroup path, but no valid unit name
      do {
        _ = try await runtime.runPodSandbox(run)
        Issue.record("RunPodSandbox in slice liftoff#test.slice succeeded")
      } catch let error as RPCError {
        #expect(error.message.contains("Invalid unit name 'liftoff#test.slice'"), "\(error.message)")
        #expect(error.message.contains(".scope"), "\(error.message)")
      }
      let list = Runtime_V1_ListPodSandboxRequest()
      #expect(try await runtime.listPodSandbox(list).items.isEmpty)
    }
    for place in ["embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"] {
      let left = (try? FileManager.default.contentsOfDirectory(atPath: "\(server.dir)/pods/\(place)")) ?? []
      #expect(left.isEmpty, "pods/\(place): \(left)")
    }
    let after = try Self.systemctl("list-units", "--all", "--no-legend", "--plain", "liftoff-*.scope").output
    #expect(after == before, "\(after)")
    #expect(!FileManager.default.fileExists(atPath: "/sys/fs/cgroup/liftoff#test.slice"))
  }
}
