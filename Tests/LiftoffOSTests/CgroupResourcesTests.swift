import Glibc
import LiftoffCore
import LiftoffOS
import Testing

/// Limits and stats on fake cgroup hierarchies (plain directories): what is written where, and what
/// is read from which file.
@Suite struct CgroupResourcesTests {
  func read(_ p: String) throws -> String { try FileSystem.readString(p) }

  @Test func v1WritesEveryLimitAndInitialisesCpusets() throws {
    let root = try makeTempDir("cglim1")
    defer { try? FileSystem.removeTree(root) }
    for c in ["cpuset", "hugetlb"] { try FileSystem.makeDirectories("\(root)/\(c)") }
    try FileSystem.writeControl("\(root)/cpuset/cpuset.cpus", "0-1\n")
    try FileSystem.writeControl("\(root)/cpuset/cpuset.mems", "0\n")
    let cg = Cgroups(root: root, version: .v1)
    #expect(cg.controllers == ["memory", "cpu", "cpuacct", "pids", "cpuset", "hugetlb"])
    // The app's hugetlb file exists on a real host; the fake one needs it before create.
    try FileSystem.makeDirectories("\(root)/hugetlb/liftoff/p/a")
    try FileSystem.writeControl("\(root)/hugetlb/liftoff/p/a/hugetlb.2MB.limit_in_bytes", "9223372036854771712")
    let r = AppResources(
      memoryBytes: 64 << 20, pidsMax: -1, cpuShares: 512, cpuPeriodUs: 50_000, cpuQuotaUs: 25_000,
      cpusetCpus: "1", cpusetMems: "0", hugepageLimits: [.init(pageSize: "2MB", limitBytes: 4 << 20)])
    try cg.create(pod: "p", app: "a", resources: r)
    #expect(try read("\(root)/memory/liftoff/p/a/memory.limit_in_bytes") == String(64 << 20))
    #expect(try read("\(root)/cpu/liftoff/p/a/cpu.shares") == "512")
    #expect(try read("\(root)/cpu/liftoff/p/a/cpu.cfs_period_us") == "50000")
    #expect(try read("\(root)/cpu/liftoff/p/a/cpu.cfs_quota_us") == "25000")
    #expect(try read("\(root)/pids/liftoff/p/a/pids.max") == "max")
    #expect(try read("\(root)/cpuset/liftoff/cpuset.cpus") == "0-1")
    #expect(try read("\(root)/cpuset/liftoff/p/cpuset.mems") == "0")
    #expect(try read("\(root)/cpuset/liftoff/p/a/cpuset.cpus") == "1")
    #expect(try read("\(root)/hugetlb/liftoff/p/a/hugetlb.2MB.limit_in_bytes") == String(4 << 20))
    #expect(FileSystem.isDirectory("\(root)/cpuacct/liftoff/p/a"))
    // A page size the host lacks is an error naming it.
    #expect {
      try cg.apply(pod: "p", app: "a", resources: AppResources(hugepageLimits: [.init(pageSize: "1GB", limitBytes: 0)]))
    } throws: { "\($0)".contains("1GB") }
    #expect(cg.removePod("p"))
    #expect(!FileSystem.exists("\(root)/cpuset/liftoff/p"))
  }

  /// systemd slices: `a-b-c.slice` is `a.slice/a-b.slice/a-b-c.slice`; a pod under a slice parent
  /// gets its groups there (on a fake v1 hierarchy).
  @Test func systemdSlicesExpandAndPodsGoUnderThem() throws {
    #expect(Cgroups.expandSlice("kubepods-besteffort-pod1.slice") == "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice")
    #expect(Cgroups.expandSlice("system.slice") == "system.slice")
    #expect(Cgroups.expandSlice("-.slice") == "")
    for bad in ["a--b.slice", "-a.slice", "a-.slice", "a/b.slice", "a.scope", ".slice", "a b.slice"] {
      #expect(Cgroups.expandSlice(bad) == nil, "\(bad)")
    }
    let root = try makeTempDir("cgslice")
    defer { try? FileSystem.removeTree(root) }
    let parent = try #require(Cgroups.parentPath("/" + (Cgroups.expandSlice("kubepods-burstable-podx.slice") ?? "")))
    let cg = Cgroups(root: root, version: .v1).under(parent)
    try cg.create(pod: "p", app: "a", resources: AppResources(memoryBytes: 8 << 20))
    #expect(try read("\(root)/memory/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podx.slice/p/a/memory.limit_in_bytes") == String(8 << 20))
    #expect(cg.removePod("p"))
  }

  @Test func v1SwapLimitNeedsAccountingAndKeepsMemswAboveLimit() throws {
    let root = try makeTempDir("cgswap")
    defer { try? FileSystem.removeTree(root) }
    let cg = Cgroups(root: root, version: .v1)
    try cg.create(pod: "p", app: "a", resources: AppResources())
    // No memory.memsw.* (no swap accounting): a swap limit is refused, naming the file.
    #expect {
      try cg.apply(pod: "p", app: "a", resources: AppResources(memoryBytes: 64 << 20, memorySwapBytes: 128 << 20))
    } throws: { "\($0)".contains("memory.memsw.limit_in_bytes") }
    let mem = "\(root)/memory/liftoff/p/a"
    try FileSystem.writeControl("\(mem)/memory.limit_in_bytes", String(32 << 20))
    try FileSystem.writeControl("\(mem)/memory.memsw.limit_in_bytes", String(32 << 20))
    try cg.apply(pod: "p", app: "a", resources: AppResources(memoryBytes: 64 << 20, memorySwapBytes: 128 << 20))
    #expect(try read("\(mem)/memory.limit_in_bytes") == String(64 << 20))
    #expect(try read("\(mem)/memory.memsw.limit_in_bytes") == String(128 << 20))
    // Memory alone: memsw follows it (no swap).
    try cg.apply(pod: "p", app: "a", resources: AppResources(memoryBytes: 16 << 20))
    #expect(try read("\(mem)/memory.memsw.limit_in_bytes") == String(16 << 20))
  }

  @Test func v2LimitsAndMissingControllers() throws {
    let root = try makeTempDir("cglim2")
    defer { try? FileSystem.removeTree(root) }
    try FileSystem.writeControl("\(root)/cgroup.controllers", "cpu memory pids\n")
    let cg = Cgroups(root: root, version: .v2)
    try cg.create(pod: "p", app: "a", resources: AppResources(cpuPeriodUs: 20_000, cpuQuotaUs: -1))
    #expect(try read("\(root)/liftoff/p/a/cpu.max") == "max 20000")
    try FileSystem.writeControl("\(root)/liftoff/p/a/memory.swap.max", "max")
    try cg.apply(pod: "p", app: "a", resources: AppResources(memoryBytes: 64 << 20, memorySwapBytes: 96 << 20))
    #expect(try read("\(root)/liftoff/p/a/memory.swap.max") == String(32 << 20))
    #expect {
      try cg.apply(pod: "p", app: "a", resources: AppResources(cpusetCpus: "0"))
    } throws: { "\($0)".contains("cpuset cgroup controller") }
    // unified keys: written as given, after the typed fields; a file the group lacks is named.
    try FileSystem.writeControl("\(root)/liftoff/p/a/memory.high", "max")
    var u = AppResources(memoryBytes: 32 << 20)
    u.unified = ["memory.high": "16777216", "memory.max": "33554433"]
    try cg.apply(pod: "p", app: "a", resources: u)
    #expect(try read("\(root)/liftoff/p/a/memory.high") == "16777216")
    #expect(try read("\(root)/liftoff/p/a/memory.max") == "33554433")
    var missing = AppResources()
    missing.unified = ["io.weight": "50"]
    #expect { try cg.apply(pod: "p", app: "a", resources: missing) } throws: { "\($0)".contains("unified key io.weight") }
    // On v1 they are refused.
    let v1 = Cgroups(root: root, version: .v1)
    #expect { try v1.apply(pod: "p", app: "a", resources: missing) } throws: { "\($0)".contains("unified keys need cgroup v2") }
    // Keys that would move processes or escape the group are no keys.
    var bad = AppResources()
    bad.unified = ["cgroup.procs": "1"]
    #expect(throws: LiftoffError.self) { try bad.validate(in: "app a") }
    bad.unified = ["../../x.y": "1"]
    #expect(throws: LiftoffError.self) { try bad.validate(in: "app a") }
    // They round-trip through pod.json and merge key by key.
    var merged = u.merged(with: missing)
    #expect(merged.unified == ["memory.high": "16777216", "memory.max": "33554433", "io.weight": "50"])
    merged = try AppResources(json: JSON.parse(merged.json.serialized()), in: "t")
    #expect(merged.unified["io.weight"] == "50")
  }

  @Test func v1StatsFromTheFiles() throws {
    let root = try makeTempDir("cgstat1")
    defer { try? FileSystem.removeTree(root) }
    let cg = Cgroups(root: root, version: .v1)
    try cg.create(pod: "p", app: "a", resources: AppResources())
    try FileSystem.writeControl("\(root)/cpuacct/liftoff/p/a/cpuacct.usage", "123456789\n")
    let mem = "\(root)/memory/liftoff/p/a"
    try FileSystem.writeControl("\(mem)/memory.usage_in_bytes", "10000000\n")
    try FileSystem.writeControl("\(mem)/memory.limit_in_bytes", "9223372036854771712\n")
    try FileSystem.writeControl(
      "\(mem)/memory.stat",
      "cache 100\nrss 7\ntotal_rss 4000000\ntotal_inactive_file 3000000\ntotal_pgfault 55\ntotal_pgmajfault 2\n")
    try FileSystem.writeControl("\(root)/pids/liftoff/p/a/pids.current", "3\n")
    let s = cg.stats(pod: "p", app: "a")
    #expect(s.cpuUsageNanos == 123_456_789)
    #expect(s.memoryUsage == 10_000_000 && s.workingSet == 7_000_000 && s.rss == 4_000_000)
    #expect(s.pageFaults == 55 && s.majorPageFaults == 2 && s.pids == 3)
    #expect(s.memoryLimit == nil)
    // The pod's group has no files here: nothing is made up.
    #expect(cg.stats(pod: "p") == CgroupStats())
  }

  @Test func v2StatsFromTheFiles() throws {
    let root = try makeTempDir("cgstat2")
    defer { try? FileSystem.removeTree(root) }
    let cg = Cgroups(root: root, version: .v2)
    try cg.create(pod: "p", app: "a", resources: AppResources())
    let dir = "\(root)/liftoff/p/a"
    try FileSystem.writeControl("\(dir)/cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    try FileSystem.writeControl("\(dir)/memory.current", "8192\n")
    try FileSystem.writeControl("\(dir)/memory.max", "max\n")
    try FileSystem.writeControl("\(dir)/memory.stat", "anon 4096\ninactive_file 10000\npgfault 9\npgmajfault 1\n")
    let s = cg.stats(pod: "p", app: "a")
    #expect(s.cpuUsageNanos == 1_500_000)
    #expect(s.memoryUsage == 8192 && s.workingSet == 0 && s.rss == 4096)
    #expect(s.pageFaults == 9 && s.majorPageFaults == 1 && s.memoryLimit == nil && s.pids == nil)
  }

  @Test func v2DelegatesEveryControllerDownANestedParent() throws {
    let root = try makeTempDir("cgdel2")
    defer { try? FileSystem.removeTree(root) }
    try FileSystem.writeControl("\(root)/cgroup.controllers", "cpuset cpu io memory hugetlb pids\n")
    // What the parent already passes on is not written again (a fake file keeps only the last write).
    try FileSystem.makeDirectories("\(root)/kubepods/burstable")
    try FileSystem.writeControl("\(root)/cgroup.subtree_control", "cpu memory")
    let cg = Cgroups(root: root, version: .v2).under("kubepods/burstable/pod1")
    try cg.create(pod: "p", app: "a", resources: AppResources(memoryBytes: 64 << 20))
    #expect(try read("\(root)/cgroup.subtree_control") == "+cpuset +io +hugetlb +pids")
    for level in ["kubepods", "kubepods/burstable", "kubepods/burstable/pod1", "kubepods/burstable/pod1/p"] {
      #expect(try read("\(root)/\(level)/cgroup.subtree_control") == "+cpuset +cpu +io +memory +hugetlb +pids", "\(level)")
    }
    #expect(try read("\(root)/kubepods/burstable/pod1/p/a/memory.max") == String(64 << 20))
  }

  /// The systemd driver (fake v2 hierarchy): the pod's group is its scope `liftoff-<pod>.scope` under
  /// the slice's path, stage1 goes into the leaf `_stage1`, the apps' groups beside it; removing the
  /// pod removes the apps' groups and leaves the scope (and stage1's leaf) to systemd.
  @Test func systemdScopesHoldTheAppsAndStage1sLeaf() throws {
    let root = try makeTempDir("cgscope")
    defer { try? FileSystem.removeTree(root) }
    try FileSystem.writeControl("\(root)/cgroup.controllers", "cpu memory pids\n")
    let plain = PodManifest(id: "p", createdAt: "", hostname: "h", network: PodNetwork(mode: .host), apps: [])
    var m = plain
    m.cgroupParent = Cgroups.expandSlice("kubepods-burstable-podx.slice")
    m.systemdSlice = "kubepods-burstable-podx.slice"
    let cg = Cgroups(root: root, version: .v2).of(m)
    #expect(cg.systemdScopes && Cgroups(root: root, version: .v2).of(plain).systemdScopes == false)
    let scope = "\(root)/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podx.slice/liftoff-p.scope"
    #expect(cg.directories(pod: "p", app: "a") == ["\(scope)/a"])
    try FileSystem.makeDirectories(scope)  // systemd made it
    try cg.enterSupervisorGroup(pod: "p", pid: 42)
    #expect(try read("\(scope)/_stage1/cgroup.procs") == "42")
    try cg.create(pod: "p", app: "a", resources: AppResources(memoryBytes: 64 << 20))
    #expect(try read("\(scope)/a/memory.max") == String(64 << 20))
    #expect(try read("\(scope)/cgroup.subtree_control") == "+cpu +memory +pids")
    #expect(cg.removePod("p"))
    #expect(!FileSystem.isDirectory("\(scope)/a"))
    #expect(FileSystem.isDirectory("\(scope)/_stage1"))
  }

  @Test func v2SwapAndPressureStats() throws {
    let root = try makeTempDir("cgpsi2")
    defer { try? FileSystem.removeTree(root) }
    let cg = Cgroups(root: root, version: .v2)
    try cg.create(pod: "p", app: "a", resources: AppResources())
    let dir = "\(root)/liftoff/p/a"
    try FileSystem.writeControl("\(dir)/memory.swap.current", "4096\n")
    try FileSystem.writeControl("\(dir)/memory.swap.max", "max\n")
    try FileSystem.writeControl("\(dir)/cpu.pressure", "some avg10=1.50 avg60=0.25 avg300=0.00 total=123456\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n")
    try FileSystem.writeControl("\(dir)/memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    var s = cg.stats(pod: "p", app: "a")
    #expect(s.swapUsage == 4096 && s.swapLimit == nil)
    #expect(s.cpuPressure == Pressure(some: .init(avg10: 1.5, avg60: 0.25, avg300: 0, total: 123_456), full: .init(avg10: 0, avg60: 0, avg300: 0, total: 7)))
    #expect(s.memoryPressure?.some?.total == 0 && s.memoryPressure?.full == nil)
    #expect(s.ioPressure == nil)
    try FileSystem.writeControl("\(dir)/memory.swap.max", "1048576\n")
    s = cg.stats(pod: "p", app: "a")
    #expect(s.swapLimit == 1_048_576)
    #expect(Pressure.parse("") == nil && Pressure.parse("some avg10=x\n") == nil)
  }

  @Test func v1SwapStatsFromMemsw() throws {
    let root = try makeTempDir("cgswap1")
    defer { try? FileSystem.removeTree(root) }
    let cg = Cgroups(root: root, version: .v1)
    try cg.create(pod: "p", app: "a", resources: AppResources())
    let mem = "\(root)/memory/liftoff/p/a"
    try FileSystem.writeControl("\(mem)/memory.usage_in_bytes", "10000\n")
    try FileSystem.writeControl("\(mem)/memory.memsw.usage_in_bytes", "14096\n")
    try FileSystem.writeControl("\(mem)/memory.limit_in_bytes", "65536\n")
    try FileSystem.writeControl("\(mem)/memory.memsw.limit_in_bytes", "98304\n")
    let s = cg.stats(pod: "p", app: "a")
    #expect(s.swapUsage == 4096 && s.swapLimit == 32768)
  }

  @Test func netDevSkipsLoopbackAndHeaders() {
    let text = """
      Inter-|   Receive                                                |  Transmit
       face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
          lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0
        eth0:    5066      40    1    0    0     0          0         0     1256      12    3    0    0     0       0          0

      """
    #expect(NetworkDeviceStats.parse(text) == [NetworkDeviceStats(name: "eth0", rxBytes: 5066, rxErrors: 1, txBytes: 1256, txErrors: 3)])
  }
}
