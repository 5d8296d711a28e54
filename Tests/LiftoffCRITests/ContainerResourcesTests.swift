// Resources, a Localhost seccomp profile and stats through the CRI over the real socket: limits set at
// CreateContainer and changed by UpdateContainerResources are checked in the cgroup files and from
// inside the container; ContainerStats / ListContainerStats / PodSandboxStats / ListPodSandboxStats
// (and their Stream forms) are checked against the kernel's files.
import Foundation
import GRPCCore
import LiftoffCRI
import LiftoffCore
import LiftoffOS
import LiftoffTestSupport
import Testing

@Suite(.serialized) struct ContainerResourcesTests {
  @Test(.needsRegistry) func resourcesSeccompAndStats() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    let logDir = server.root + "/logs/pod"
    let profile = server.root + "/deny-mkdir.json"
    try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#
      .write(toFile: profile, atomically: true, encoding: .utf8)
    try await server.withClients { runtime, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = image
      _ = try await images.pullImage(pull)
      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("res", labels: ["app": "res"])
      run.config.logDirectory = logDir
      let sandboxID = try await runtime.runPodSandbox(run).podSandboxID

      var create = Runtime_V1_CreateContainerRequest()
      create.podSandboxID = sandboxID
      create.sandboxConfig = run.config
      create.config = containerConfig(
        "work", image: image,
        "mkdir /tmp/d 2>&1 || echo mkdir-denied; dd if=/dev/zero of=/tmp/blob bs=1024 count=200 2>/dev/null; echo written; "
          + "while true; do grep Cpus_allowed_list /proc/self/status; sleep 0.2; done",
        logPath: "work.log", labels: ["role": "work"])
      var res = Runtime_V1_LinuxContainerResources()
      res.memoryLimitInBytes = 64 << 20
      res.memorySwapLimitInBytes = 64 << 20
      res.cpuPeriod = 100_000
      res.cpuQuota = 50_000
      res.cpuShares = 512
      var huge = Runtime_V1_HugepageLimit()
      huge.pageSize = "2MB"
      huge.limit = 0
      res.hugepageLimits = [huge]  // kubelet sends every size; 0 = not requested
      create.config.linux.resources = res
      create.config.linux.securityContext.seccomp.profileType = .localhost
      create.config.linux.securityContext.seccomp.localhostRef = profile
      let id = try await runtime.createContainer(create).containerID
      var start = Runtime_V1_StartContainerRequest()
      start.containerID = id
      _ = try await runtime.startContainer(start)
      let log = logDir + "/work.log"
      #expect(try await eventually { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("Cpus_allowed_list") })
      let text = try String(contentsOfFile: log, encoding: .utf8)
      #expect(text.contains("Permission denied") && text.contains("mkdir-denied"), "\(text)")
      let group = GroupFiles(Cgroups.host(), pod: sandboxID, app: id)
      #expect(group.memoryLimit == String(64 << 20))
      #expect(group.cpuQuotaPeriod == "50000 100000")
      #expect(group.cpuWeight == group.expectedWeight(shares: 512))
      if group.isV2 { #expect(group.read("memory", "memory.swap.max") == "0") }  // memory+swap = memory: no swap

      // ContainerStats against the kernel's files (cumulative CPU between two reads of cpuacct.usage).
      var statsReq = Runtime_V1_ContainerStatsRequest()
      statsReq.containerID = String(id.prefix(12))
      let before = group.cpuUsageNanos
      let s1 = try await runtime.containerStats(statsReq).stats
      let after = group.cpuUsageNanos
      #expect(s1.attributes.id == id && s1.attributes.metadata.name == "work" && s1.attributes.labels == ["role": "work"])
      #expect(s1.cpu.hasUsageCoreNanoSeconds && before <= s1.cpu.usageCoreNanoSeconds.value && s1.cpu.usageCoreNanoSeconds.value <= after)
      #expect(s1.cpu.timestamp > 0)
      #expect(s1.memory.workingSetBytes.value > 0 && s1.memory.workingSetBytes.value <= s1.memory.usageBytes.value)
      #expect(s1.memory.availableBytes.value == (64 << 20) - s1.memory.workingSetBytes.value)
      #expect(s1.memory.hasRssBytes && s1.memory.pageFaults.value > 0)
      if group.isV2 {
        // Swap and pressure (PSI) from the v2 files: no swap allowed, so none used and none available.
        #expect(s1.swap.hasSwapUsageBytes && s1.swap.swapUsageBytes.value == 0 && s1.swap.swapAvailableBytes.value == 0)
        if group.exists("cpu", "cpu.pressure") {
          #expect(s1.cpu.psi.hasSome && s1.memory.psi.hasFull && s1.io.psi.hasSome, "\(s1)")
        }
      }
      #expect(s1.writableLayer.usedBytes.value >= 200 * 1024 && s1.writableLayer.inodesUsed.value >= 2)
      #expect(s1.writableLayer.fsID.mountpoint.hasSuffix("/apps/\(id)/rootfs/upper"))
      try await Task.sleep(for: .milliseconds(300))
      let s2 = try await runtime.containerStats(statsReq).stats
      #expect(s2.cpu.hasUsageNanoCores, "the second sample gives a rate")
      #expect(s2.cpu.usageCoreNanoSeconds.value >= s1.cpu.usageCoreNanoSeconds.value)

      var list = Runtime_V1_ListContainerStatsRequest()
      list.filter.podSandboxID = sandboxID
      #expect(try await runtime.listContainerStats(list).stats.map(\.attributes.id) == [id])
      list.filter.labelSelector = ["role": "other"]
      #expect(try await runtime.listContainerStats(list).stats.isEmpty)
      let streamed = try await runtime.streamContainerStats(.init()) { response in
        var got: [String] = []
        for try await batch in response.messages { got += batch.containerStats.map(\.attributes.id) }
        return got
      }
      #expect(streamed == [id])

      // PodSandboxStats: the pod cgroup, the pod's network namespace (eth0 on the test bridge).
      var podReq = Runtime_V1_PodSandboxStatsRequest()
      podReq.podSandboxID = sandboxID
      let p = try await runtime.podSandboxStats(podReq).stats
      #expect(p.attributes.id == sandboxID && p.attributes.labels == ["app": "res"])
      #expect(p.linux.cpu.usageCoreNanoSeconds.value >= s2.cpu.usageCoreNanoSeconds.value)
      #expect(p.linux.memory.workingSetBytes.value > 0)
      // sh and its sleep or grep; between the two only sh runs, so a sample may see one process.
      #expect(
        try await eventually(5) { try await runtime.podSandboxStats(podReq).stats.linux.process.processCount.value >= 2 },
        "sh and its sleep or grep")
      #expect(p.linux.network.defaultInterface.name == "eth0")
      #expect(p.linux.network.defaultInterface.rxBytes.value > 0, "the bridge's IPv6/ARP traffic at least")
      #expect(!p.linux.network.interfaces.contains { $0.name == "lo" })
      #expect(p.linux.containers.map(\.attributes.id) == [id])
      // Metrics with cAdvisor's names, the same numbers.
      let descriptors = try await runtime.listMetricDescriptors(.init()).descriptors
      #expect(descriptors.contains { $0.name == "container_memory_working_set_bytes" && $0.labelKeys == ["id", "name"] })
      #expect(descriptors.contains { $0.name == "container_network_receive_bytes_total" && $0.labelKeys == ["id", "name", "interface"] })
      let podMetrics = try await runtime.listPodSandboxMetrics(.init()).podMetrics
      let pm = try #require(podMetrics.first { $0.podSandboxID == sandboxID })
      #expect(pm.metrics.contains { $0.name == "container_network_receive_bytes_total" && $0.labelValues == [sandboxID, "res", "eth0"] && $0.value.value > 0 })
      let cm = try #require(pm.containerMetrics.first { $0.containerID == id })
      let ws = try #require(cm.metrics.first { $0.name == "container_memory_working_set_bytes" })
      #expect(ws.labelValues == [id, "work"] && ws.value.value > 0 && ws.metricType == .gauge)
      #expect(cm.metrics.first { $0.name == "container_spec_memory_limit_bytes" }?.value.value == 64 << 20)
      #expect(cm.metrics.first { $0.name == "container_cpu_usage_seconds_total" }?.metricType == .counter)
      #expect((cm.metrics.first { $0.name == "container_fs_usage_bytes" }?.value.value ?? 0) >= 200 * 1024)
      let names = Set(descriptors.map(\.name))
      #expect((pm.metrics + cm.metrics).allSatisfy { names.contains($0.name) })

      var podList = Runtime_V1_ListPodSandboxStatsRequest()
      podList.filter.labelSelector = ["app": "res"]
      #expect(try await runtime.listPodSandboxStats(podList).stats.map(\.attributes.id) == [sandboxID])
      podList.filter.id = "ffff"
      #expect(try await runtime.listPodSandboxStats(podList).stats.isEmpty)

      // UpdateContainerResources: live, seen in the cgroup files, from inside, and in ContainerStatus.
      var update = Runtime_V1_UpdateContainerResourcesRequest()
      update.containerID = id
      var newRes = Runtime_V1_LinuxContainerResources()
      newRes.memoryLimitInBytes = 128 << 20
      newRes.cpuPeriod = 50_000
      newRes.cpuQuota = 20_000
      newRes.cpuShares = 256
      newRes.cpusetCpus = "0"
      update.linux = newRes
      _ = try await runtime.updateContainerResources(update)
      #expect(group.memoryLimit == String(128 << 20))
      #expect(group.cpuQuotaPeriod == "20000 50000")
      #expect(group.cpuWeight == group.expectedWeight(shares: 256))
      #expect(group.read("cpuset", "cpuset.cpus") == "0")
      #expect(try await eventually {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").last?.hasSuffix("Cpus_allowed_list:\t0") == true
      })
      var status = Runtime_V1_ContainerStatusRequest()
      status.containerID = id
      let r = try await runtime.containerStatus(status).status.resources.linux
      #expect(r.memoryLimitInBytes == 128 << 20 && r.cpuPeriod == 50_000 && r.cpuQuota == 20_000)
      #expect(r.cpuShares == 256 && r.cpusetCpus == "0")

      // UpdatePodSandboxResources: the sandbox's own cgroup, parent of its containers'.
      var podUpdate = Runtime_V1_UpdatePodSandboxResourcesRequest()
      podUpdate.podSandboxID = sandboxID
      podUpdate.resources.memoryLimitInBytes = 512 << 20
      podUpdate.resources.cpuQuota = 150_000
      podUpdate.resources.cpuPeriod = 100_000
      _ = try await runtime.updatePodSandboxResources(podUpdate)
      let podGroup = GroupFiles(Cgroups.host(), pod: sandboxID)
      #expect(podGroup.memoryLimit == String(512 << 20))
      #expect(podGroup.cpuQuotaPeriod == "150000 100000")

      // oom_score_adj changes live on every process of the container, and is never set below
      // liftoff's own (root here lacks CAP_SYS_RESOURCE: containerd's restrict_oom_score_adj).
      #expect(!group.read("memory", "cgroup.procs").isEmpty)
      // The container's loop starts short-lived processes: read the list afresh, and skip one that
      // exited between the list and its oom_score_adj (an empty read).
      func adjustments() -> [String] {
        group.read("memory", "cgroup.procs").split(separator: "\n").map {
          ((try? String(contentsOfFile: "/proc/\($0)/oom_score_adj", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        }.filter { !$0.isEmpty }
      }
      update.linux = Runtime_V1_LinuxContainerResources()
      update.linux.oomScoreAdj = 500
      _ = try await runtime.updateContainerResources(update)
      #expect(adjustments().allSatisfy { $0 == "500" }, "\(adjustments())")
      #expect(try await runtime.containerStatus(status).status.resources.linux.oomScoreAdj == 500)
      let floor = ProcessControl.oomScoreAdj("self")
      update.linux.oomScoreAdj = -900
      _ = try await runtime.updateContainerResources(update)
      #expect(adjustments().allSatisfy { $0 == String(max(-900, floor)) }, "\(adjustments()) floor \(floor)")
      update.linux.oomScoreAdj = 1001
      await expectRPCError(.invalidArgument, "linux.oom_score_adj") { _ = try await runtime.updateContainerResources(update) }

      // Refusals name the field; nothing changes.
      update.linux = Runtime_V1_LinuxContainerResources()
      update.linux.memoryLimitInBytes = 1 << 20
      await expectRPCError(.invalidArgument, "4 MiB") { _ = try await runtime.updateContainerResources(update) }
      #expect(group.memoryLimit == String(128 << 20))
      update.containerID = "0123456789abcdef"
      await expectRPCError(.notFound, "") { _ = try await runtime.updateContainerResources(update) }
      statsReq.containerID = "0123456789abcdef"
      await expectRPCError(.notFound, "") { _ = try await runtime.containerStats(statsReq) }

      // A bad Localhost profile path is refused naming the field.
      var bad = create
      bad.config.metadata.name = "bad"
      bad.config.linux.securityContext.seccomp.localhostRef = "relative.json"
      await expectRPCError(.invalidArgument, "localhost_ref") { _ = try await runtime.createContainer(bad) }
      bad.config.linux.securityContext.seccomp.localhostRef = server.root + "/missing.json"
      do {
        _ = try await runtime.createContainer(bad)
        Issue.record("a missing profile was accepted")
      } catch let e as RPCError {
        #expect(e.message.contains(server.root + "/missing.json"), "\(e.message)")
      }

      var stopPod = Runtime_V1_StopPodSandboxRequest()
      stopPod.podSandboxID = sandboxID
      _ = try await runtime.stopPodSandbox(stopPod)
      var rmPod = Runtime_V1_RemovePodSandboxRequest()
      rmPod.podSandboxID = sandboxID
      _ = try await runtime.removePodSandbox(rmPod)
    }
  }

  @Test(.needsRegistry) func securityContextSysctlsDevicesAndGroups() async throws {
    let registry = try TestEnvironment.requireRegistry()
    let image = "\(registry)/liftoff-test/busybox:latest"
    let server = try CRITestServer()
    defer { server.stop() }
    let logDir = server.root + "/logs/sec"
    try await server.withClients { runtime, images in
      var pull = Runtime_V1_PullImageRequest()
      pull.image.image = image
      _ = try await images.pullImage(pull)

      // A sysctl that is not namespaced: refused at RunPodSandbox, naming it.
      var badRun = Runtime_V1_RunPodSandboxRequest()
      badRun.config = sandboxConfig("badsysctl")
      badRun.config.linux.sysctls = ["vm.swappiness": "10"]
      await expectRPCError(.invalidArgument, "vm.swappiness") { _ = try await runtime.runPodSandbox(badRun) }

      var run = Runtime_V1_RunPodSandboxRequest()
      run.config = sandboxConfig("sec")
      run.config.logDirectory = logDir
      run.config.linux.securityContext.namespaceOptions.pid = .container
      run.config.linux.sysctls = ["kernel.shmmni": "2345", "net.ipv4.ip_unprivileged_port_start": "81"]
      let sandboxID = try await runtime.runPodSandbox(run).podSandboxID
      func create(_ name: String, _ script: String, _ edit: (inout Runtime_V1_ContainerConfig) -> Void) async throws -> String {
        var c = Runtime_V1_CreateContainerRequest()
        c.podSandboxID = sandboxID
        c.sandboxConfig = run.config
        c.config = containerConfig(name, image: image, script + "; exec sleep 1000", logPath: "\(name).log")
        edit(&c.config)
        let id = try await runtime.createContainer(c).containerID
        var start = Runtime_V1_StartContainerRequest()
        start.containerID = id
        _ = try await runtime.startContainer(start)
        return id
      }
      func output(_ name: String, lines: Int) async throws -> [String] {
        var got: [String] = []
        _ = try await eventually {
          let text = (try? String(contentsOfFile: "\(logDir)/\(name).log", encoding: .utf8)) ?? ""
          got = text.split(separator: "\n").map { String($0.split(separator: " ", maxSplits: 3).last ?? "") }
          return got.count >= lines
        }
        return got
      }

      let userID = try await create(
        "user", "id -u; id -G; cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_unprivileged_port_start; echo pid=$$"
      ) { c in
        c.linux.securityContext.runAsUser.value = 1000
        c.linux.securityContext.runAsGroup.value = 1000
        c.linux.securityContext.supplementalGroups = [4000, 4001]
        c.linux.securityContext.supplementalGroupsPolicy = .strict
        c.linux.securityContext.namespaceOptions.pid = .node
      }
      let user = try await output("user", lines: 5)
      #expect(user.prefix(5) == ["1000", "1000 4000 4001", "2345", "81", user.count > 4 ? user[4] : ""], "\(user)")
      #expect(user.count > 4 && user[4] != "pid=1", "PID namespace NODE: \(user)")
      var status = Runtime_V1_ContainerStatusRequest()
      status.containerID = userID
      let u = try await runtime.containerStatus(status).status.user.linux
      #expect(u.uid == 1000 && u.gid == 1000 && u.supplementalGroups == [1000, 4000, 4001])

      // add_ambient_capabilities: a non-root container keeps them across execve.
      _ = try await create("ambient", "grep -E '^Cap(Eff|Amb):' /proc/self/status") { c in
        c.linux.securityContext.runAsUser.value = 1000
        c.linux.securityContext.capabilities.addAmbientCapabilities = ["CAP_NET_BIND_SERVICE"]
      }
      #expect(try await output("ambient", lines: 2) == ["CapEff:\t0000000000000400", "CapAmb:\t0000000000000400"])

      _ = try await create("priv", "grep -E '^(CapEff|Seccomp):' /proc/self/status; ls /dev/loop0") { c in
        c.linux.securityContext.privileged = true
        c.linux.securityContext.seccomp.profileType = .runtimeDefault
      }
      let priv = try await output("priv", lines: 3)
      #expect(priv.contains("CapEff:\t000001fffeffffff") || priv.contains("CapEff:\t000001ffffffffff"), "\(priv)")
      #expect(priv.contains("Seccomp:\t0") && priv.contains("/dev/loop0"), "\(priv)")

      _ = try await create(
        "dev",
        "(exec 3</dev/ctl) && echo read-open; (exec 3>/dev/ctl) 2>/dev/null && echo write-open || echo write-denied; stat -c %F /proc/timer_list /proc/keys"
      ) { c in
        c.linux.securityContext.maskedPaths = ["/proc/keys"]
        c.linux.securityContext.readonlyPaths = ["/proc/sys"]
        var d = Runtime_V1_Device()
        d.hostPath = "/dev/loop-control"
        d.containerPath = "/dev/ctl"
        d.permissions = "r"
        c.devices = [d]
      }
      #expect(try await output("dev", lines: 4) == ["read-open", "write-denied", "regular empty file", "character special file"])

      // A memory limit the container exceeds: exit 137, reason OOMKilled.
      var hog = Runtime_V1_CreateContainerRequest()
      hog.podSandboxID = sandboxID
      hog.sandboxConfig = run.config
      hog.config = containerConfig("hog", image: image, "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived")
      hog.config.linux.resources.memoryLimitInBytes = 16 << 20
      let hogID = try await runtime.createContainer(hog).containerID
      var startHog = Runtime_V1_StartContainerRequest()
      startHog.containerID = hogID
      _ = try await runtime.startContainer(startHog)
      var hogStatus = Runtime_V1_ContainerStatusRequest()
      hogStatus.containerID = hogID
      #expect(try await eventually(20) { try await runtime.containerStatus(hogStatus).status.state == .containerExited })
      let hs = try await runtime.containerStatus(hogStatus).status
      #expect(hs.exitCode == 137 && hs.reason == "OOMKilled", "\(hs.exitCode) \(hs.reason)")

      // This sandbox has PID namespace CONTAINER: a container cannot ask for the pod's.
      var pidPod = Runtime_V1_CreateContainerRequest()
      pidPod.podSandboxID = sandboxID
      pidPod.sandboxConfig = run.config
      pidPod.config = containerConfig("pidpod", image: image, "true")
      pidPod.config.linux.securityContext.namespaceOptions.pid = .pod
      await expectRPCError(.invalidArgument, "namespace_options.pid POD") { _ = try await runtime.createContainer(pidPod) }

      // shareProcessNamespace: a sandbox with PID namespace POD; its containers see each other.
      var shared = Runtime_V1_RunPodSandboxRequest()
      shared.config = sandboxConfig("shared")
      shared.config.logDirectory = logDir + "-shared"
      shared.config.linux.securityContext.namespaceOptions.pid = .pod
      let sharedID = try await runtime.runPodSandbox(shared).podSandboxID
      for (name, script) in [("one", "exec sleep 4343"), ("two", "sleep 0.5; ps -o pid,comm,args; echo done; exec sleep 1000")] {
        var c = Runtime_V1_CreateContainerRequest()
        c.podSandboxID = sharedID
        c.sandboxConfig = shared.config
        c.config = containerConfig(name, image: image, script, logPath: "\(name).log")
        c.config.linux.securityContext.namespaceOptions.pid = .pod
        let id = try await runtime.createContainer(c).containerID
        var start = Runtime_V1_StartContainerRequest()
        start.containerID = id
        _ = try await runtime.startContainer(start)
      }
      var psOut = ""
      #expect(try await eventually {
        psOut = (try? String(contentsOfFile: logDir + "-shared/two.log", encoding: .utf8)) ?? ""
        return psOut.contains("done")
      })
      #expect(psOut.contains("1 pod-init") && psOut.contains("sleep 4343"), "\(psOut)")
      var stopShared = Runtime_V1_StopPodSandboxRequest()
      stopShared.podSandboxID = sharedID
      _ = try await runtime.stopPodSandbox(stopShared)
      var rmShared = Runtime_V1_RemovePodSandboxRequest()
      rmShared.podSandboxID = sharedID
      _ = try await runtime.removePodSandbox(rmShared)

      var stopPod = Runtime_V1_StopPodSandboxRequest()
      stopPod.podSandboxID = sandboxID
      _ = try await runtime.stopPodSandbox(stopPod)
      var rmPod = Runtime_V1_RemovePodSandboxRequest()
      rmPod.podSandboxID = sandboxID
      _ = try await runtime.removePodSandbox(rmPod)
    }
  }
}
