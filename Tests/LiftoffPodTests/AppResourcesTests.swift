import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// Root integration tests of `liftoff app stats` and `liftoff app update` against real apps: the
/// numbers are checked against the cgroup and /proc files, the limits from the cgroup files and from
/// inside the app.
@Suite(.needsRoot)
struct AppResourcesTests {
  func sandbox(_ f: PodFixture) throws -> String {
    let sb = try f.liftoff(["app", "sandbox"])
    #expect(sb.status == 0, "\(sb.stderr)")
    return sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  func stats(_ f: PodFixture, _ id: String, app: String? = nil) throws -> PodStats {
    let r = try f.liftoff(["app", "stats", "--format", "json", id] + (app.map { ["--app", $0] } ?? []))
    guard r.status == 0 else { throw LiftoffError(.internal, "app stats failed: \(r.stderr)") }
    return try JSONDecoder().decode(PodStats.self, from: Data(r.stdout.utf8))
  }

  @Test func statsOfARunningAppMatchTheKernelsFiles() throws {
    let f = try PodFixture("stats")
    defer { f.tearDown() }
    try? FileManager.default.createSymbolicLink(atPath: "\(f.rootfs)/bin/ping", withDestinationPath: "busybox")
    let id = try sandbox(f)
    // A veth pair inside the pod's own network namespace, so the app has somewhere to send packets
    // (ARP requests for an address nobody has go out of v0 and arrive on v1).
    let ns = (PodStore.netnsPath(id) as NSString).lastPathComponent
    let net = "10.254.\(Int.random(in: 0..<256))"
    for cmd in [
      ["link", "add", "v0", "type", "veth", "peer", "name", "v1"], ["addr", "add", "\(net).1/24", "dev", "v0"],
      ["link", "set", "v0", "up"], ["link", "set", "v1", "up"],
    ] {
      let p = try Process.run(URL(fileURLWithPath: "/usr/sbin/ip"), arguments: ["-n", ns] + cmd)
      p.waitUntilExit()
      #expect(p.terminationStatus == 0, "ip \(cmd)")
    }
    let log = f.base + "/busy.log"
    let add = try f.liftoff([
      "app", "add", id, f.rootfs, "--name", "busy", "--memory", "64M", "--log-path", log, "--exec", "/bin/sh", "--", "-c",
      "dd if=/dev/zero of=/tmp/blob bs=1024 count=300 2>/dev/null; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; "
        + "ping -c 2 -W 1 \(net).2 >/dev/null 2>&1; echo ready; exec sleep 1000",
    ])
    #expect(add.status == 0, "\(add.stderr)")
    let idle = try f.liftoff(["app", "add", id, f.rootfs, "--name", "idle", "--exec", "/bin/sleep", "--", "1000"])
    #expect(idle.status == 0, "\(idle.stderr)")
    // Before start: no cgroup, so no numbers, but a state and an (empty) writable layer.
    let before = try stats(f, id, app: "busy")
    #expect(before.apps.count == 1 && before.apps[0].state == "created" && before.apps[0].cpu.usageCoreNanoseconds == nil)
    #expect(try f.liftoff(["app", "start", "--app", "busy", id]).status == 0)
    #expect(try f.liftoff(["app", "start", "--app", "idle", id]).status == 0)
    try waitFor("the app to be ready") { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("ready") }

    let cg = Cgroups.host()
    let stage1 = try #require(try f.statusJSON(id).pid)
    let busyGroup = GroupFiles(cg, pod: id, app: "busy")
    let podGroup = GroupFiles(cg, pod: id)
    let netBefore = NetworkDeviceStats.parse(try String(contentsOfFile: "/proc/\(stage1)/net/dev", encoding: .utf8))
    let cpuBefore = busyGroup.cpuUsageNanos
    let s = try stats(f, id)
    let cpuAfter = busyGroup.cpuUsageNanos
    let netAfter = NetworkDeviceStats.parse(try String(contentsOfFile: "/proc/\(stage1)/net/dev", encoding: .utf8))

    #expect(s.podID == id)
    #expect(Set(s.apps.map(\.name)) == ["busy", "idle"])
    let busy = try #require(s.apps.first { $0.name == "busy" })
    #expect(busy.state == "running")
    let cpu = try #require(busy.cpu.usageCoreNanoseconds)
    #expect(cpu > 0 && cpuBefore <= cpu && cpu <= cpuAfter, "\(cpuBefore) ≤ \(cpu) ≤ \(cpuAfter)")
    #expect((s.cpu.usageCoreNanoseconds ?? 0) >= cpu && (s.cpu.usageCoreNanoseconds ?? 0) <= podGroup.cpuUsageNanos)
    let usage = try #require(busy.memory.usageBytes)
    let ws = try #require(busy.memory.workingSetBytes)
    #expect(usage > 0 && ws <= usage)
    #expect(busy.memory.limitBytes == 64 << 20)
    #expect((busy.memory.pageFaults ?? 0) > 0)
    #expect(busy.memory.rssBytes != nil && busy.memory.majorPageFaults != nil)
    // cgroup v2 only: swap in use and its limit (none: a memory limit alone allows no swap), and
    // pressure stall information where the kernel has it (the Debian kernel in the VM does).
    if cg.version == .v2 {
      #expect(busy.swap.usageBytes == 0 && busy.swap.limitBytes == 0, "\(busy.swap)")
      if busyGroup.exists("cpu", "cpu.pressure") {
        #expect(busy.cpu.psi?.some != nil && busy.memory.psi?.full != nil && busy.io.psi?.some != nil, "\(busy)")
        #expect(s.cpu.psi?.some != nil && s.io.psi != nil)
      }
    } else {
      #expect(busy.cpu.psi == nil && busy.io.psi == nil)
    }
    #expect(busy.processCount == 1)  // sh exec'd into sleep
    #expect((s.processCount ?? 0) >= 2)  // busy's sleep and idle's sleep
    #expect(busy.writableLayer.usedBytes >= 300 * 1024 && busy.writableLayer.inodesUsed >= 3, "\(busy.writableLayer)")
    #expect(busy.writableLayer.path.hasSuffix("/apps/busy/rootfs/upper"))
    #expect(busy.timestampNs > 0 && s.timestampNs > 0)
    // The pod's namespace: the veths only (no loopback), counters between two reads of the kernel's file.
    #expect(Set(s.network.map(\.name)) == ["v0", "v1"])
    let v0 = try #require(s.network.first { $0.name == "v0" })
    let b = try #require(netBefore.first { $0.name == "v0" })
    let a = try #require(netAfter.first { $0.name == "v0" })
    #expect(v0.txBytes > 0 && b.txBytes <= v0.txBytes && v0.txBytes <= a.txBytes, "\(b) \(v0) \(a)")
    let v1 = try #require(s.network.first { $0.name == "v1" })
    #expect(v1.rxBytes > 0)

    let bad = try f.liftoff(["app", "stats", id, "--app", "nope"])
    #expect(bad.status != 0 && bad.stderr.contains("has no app nope"))
    #expect(try f.liftoff(["stop", id]).status == 0)
    // An exited pod: states and layers, no cgroup numbers.
    let after = try stats(f, id)
    #expect(after.cpu.usageCoreNanoseconds == nil && after.network.isEmpty)
    #expect(after.apps.allSatisfy { $0.state == "exited" && $0.memory.usageBytes == nil })
    #expect(try f.liftoff(["rm", id]).status == 0)
  }

  @Test func updateChangesLimitsLiveAndRecordsThem() throws {
    let f = try PodFixture("update")
    defer { f.tearDown() }
    let id = try sandbox(f)
    let log = f.base + "/cpus.log"
    let add = try f.liftoff([
      "app", "add", id, f.rootfs, "--name", "w", "--memory", "64M", "--cpu", "500m", "--pids", "50", "--log-path", log,
      "--exec", "/bin/sh", "--", "-c", "while true; do grep Cpus_allowed_list /proc/self/status; sleep 0.1; done",
    ])
    #expect(add.status == 0, "\(add.stderr)")
    #expect(try f.liftoff(["app", "start", "--app", "w", id]).status == 0)
    let cg = Cgroups.host()
    let w = GroupFiles(cg, pod: id, app: "w")
    #expect(w.memoryLimit == String(64 << 20))
    #expect(w.cpuQuotaPeriod == "50000 100000")
    #expect(w.pidsMax == "50")
    if w.isV2 { #expect(w.read("memory", "memory.swap.max") == "0") }  // a memory limit alone: no swap

    var args = [
      "app", "update", "--app", "w", "--memory", "128M", "--cpu-period", "50000", "--cpu-quota", "20000", "--cpu-shares", "256",
      "--pids", "20", "--format", "json", id,
    ]
    let hasCpuset = cg.hasController("cpuset")
    if hasCpuset { args += ["--cpuset-cpus", "0", "--cpuset-mems", "0"] }
    let hasMemsw = w.hasSwapLimit
    if hasMemsw { args += ["--memory-swap", "192M"] }
    let up = try f.liftoff(args)
    #expect(up.status == 0, "\(up.stderr)")
    #expect(up.stdout.contains("\"cpuQuotaUs\": 20000"), "\(up.stdout)")
    #expect(w.memoryLimit == String(128 << 20))
    if hasMemsw { #expect(w.memoryAndSwapLimit == String(192 << 20)) }
    if w.isV2 && hasMemsw { #expect(w.read("memory", "memory.swap.max") == String(64 << 20)) }
    #expect(w.cpuQuotaPeriod == "20000 50000")
    #expect(w.cpuWeight == w.expectedWeight(shares: 256))
    #expect(w.pidsMax == "20")
    if hasCpuset {
      #expect(w.read("cpuset", "cpuset.cpus") == "0" && w.read("cpuset", "cpuset.mems") == "0")
      // Seen from inside: the app's own processes may now run on CPU 0 only.
      try waitFor("the app to see its cpuset") {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").last?.hasSuffix("Cpus_allowed_list:\t0") == true
      }
    }
    // Recorded in pod.json (what a restart of the app would start from).
    let manifest = try PodStore(root: f.dataDir).readManifest(id, at: .run)
    let r = try #require(manifest.app(named: "w")).resources
    #expect(r.memoryBytes == 128 << 20 && r.cpuMillis == nil && r.cpuQuotaUs == 20_000 && r.cpuPeriodUs == 50_000)
    #expect(r.cpuShares == 256 && r.pidsMax == 20)

    // Bad values and what this host lacks are refused, naming them; nothing changes.
    let small = try f.liftoff(["app", "update", "--app", "w", "--memory", "1M", id])
    #expect(small.status != 0 && small.stderr.contains("4 MiB"), "\(small.stderr)")
    let none = try f.liftoff(["app", "update", "--app", "w", id])
    #expect(none.status != 0 && none.stderr.contains("at least one resource flag"))
    let missing = try f.liftoff(["app", "update", "--app", "nope", "--pids", "5", id])
    #expect(missing.status != 0 && missing.stderr.contains("has no app nope"))
    if !cg.hasController("hugetlb") {
      let huge = try f.liftoff(["app", "update", "--app", "w", "--hugepage", "2MB=4M", id])
      #expect(huge.status != 0 && huge.stderr.contains("hugetlb"), "\(huge.stderr)")
      let addHuge = try f.liftoff(["app", "add", id, f.rootfs, "--name", "h", "--hugepage", "2MB=4M", "--exec", "/bin/true"])
      #expect(addHuge.status != 0 && addHuge.stderr.contains("hugetlb"), "\(addHuge.stderr)")
    }
    if cg.version == .v1 {
      let unified = try f.liftoff(["app", "update", "--app", "w", "--unified", "memory.high=64M", id])
      #expect(unified.status != 0 && unified.stderr.contains("unified keys need cgroup v2"), "\(unified.stderr)")
      let addUnified = try f.liftoff(["app", "add", id, f.rootfs, "--name", "u", "--unified", "memory.high=64M", "--exec", "/bin/true"])
      #expect(addUnified.status != 0 && addUnified.stderr.contains("unified keys need cgroup v2"), "\(addUnified.stderr)")
    }
    #expect(w.memoryLimit == String(128 << 20))
    #expect(try PodStore(root: f.dataDir).readManifest(id, at: .run).app(named: "w")?.resources == r)

    // The pod's own group (no --app): bounds every app.
    let podUp = try f.liftoff(["app", "update", "--memory", "256M", "--pids", "100", id])
    #expect(podUp.status == 0, "\(podUp.stderr)")
    #expect(GroupFiles(cg, pod: id).memoryLimit == String(256 << 20))
    #expect(GroupFiles(cg, pod: id).pidsMax == "100")
    #expect(try PodStore(root: f.dataDir).readManifest(id, at: .run).resources == AppResources(memoryBytes: 256 << 20, pidsMax: 100))
    #expect(try f.liftoff(["app", "stats", "--format", "json", id]).stdout.contains("\"limit_bytes\" : \(256 << 20)"))

    // A created (not started) app: recorded, applied by stage1 when it starts.
    #expect(try f.liftoff(["app", "add", id, f.rootfs, "--name", "later", "--exec", "/bin/sleep", "--", "1000"]).status == 0)
    #expect(try f.liftoff(["app", "update", "--app", "later", "--pids", "7", id]).status == 0)
    #expect(try f.liftoff(["app", "start", "--app", "later", id]).status == 0)
    #expect(GroupFiles(cg, pod: id, app: "later").pidsMax == "7")

    #expect(try f.liftoff(["stop", id]).status == 0)
    #expect(try f.liftoff(["rm", id]).status == 0)
    #expect(try f.leftovers([id]).isEmpty)
  }
}

/// Root tests of the security settings of an app, observed from inside it.
@Suite(.needsRoot)
struct AppSecurityTests {
  @Test func localhostSeccompProfileIsEnforced() throws {
    let f = try PodFixture("scloc")
    defer { f.tearDown() }
    let profile = f.base + "/deny-mkdir.json"
    try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#
      .write(toFile: profile, atomically: true, encoding: .utf8)
    for form in ["localhost=\(profile)", "localhost/\(profile)"] {
      let r = try f.runShell(
        "grep ^Seccomp: /proc/self/status; mkdir /tmp/d 2>&1; echo rc=$?; touch /tmp/f && echo touched",
        app: ["--seccomp", form])
      #expect(r.status == 0, "\(r.stderr)")
      #expect(r.stdout.contains("Seccomp:\t2"), "\(r.stdout)")
      #expect(r.stdout.contains("Permission denied") && r.stdout.contains("rc=1"), "\(r.stdout)")
      #expect(r.stdout.contains("touched"))
    }
    let missing = try f.runShell("true", app: ["--seccomp", "localhost=\(f.base)/nope.json"])
    #expect(missing.status != 0 && missing.stderr.contains("\(f.base)/nope.json"), "\(missing.stderr)")
    let bad = f.base + "/bad.json"
    try #"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_EXPLODE"}]}"#
      .write(toFile: bad, atomically: true, encoding: .utf8)
    let badRun = try f.runShell("true", app: ["--seccomp", "localhost=\(bad)"])
    #expect(badRun.status != 0 && badRun.stderr.contains(bad) && badRun.stderr.contains("SCMP_ACT_EXPLODE"), "\(badRun.stderr)")
  }

  @Test func seccompWithoutNoNewPrivsIsLoadedWhileStillPrivileged() throws {
    let f = try PodFixture("scnnp")
    defer { f.tearDown() }
    let r = try f.runShell("grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status", app: ["--no-new-privileges=false"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains("Seccomp:\t2") && r.stdout.contains("NoNewPrivs:\t0"), "\(r.stdout)")
  }

  func capEff(_ out: String) -> UInt64? {
    guard let line = out.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }) else { return nil }
    return UInt64(line.split(separator: "\t").last ?? "", radix: 16)
  }

  @Test func privilegedGetsEverythingAndUnprivilegedDoesNot() throws {
    let f = try PodFixture("priv")
    defer { f.tearDown() }
    let script =
      "grep -E '^(CapEff|Seccomp):' /proc/self/status; stat -c 'timer_list=%F' /proc/timer_list; "
      + "grep ' /sys ' /proc/self/mounts | cut -d' ' -f4 | cut -d, -f1 | sed 's/^/sys=/'; ls /dev/loop0 2>&1; "
      + "mknod /dev/blk b 7 0 && (head -c 1 /dev/blk >/dev/null 2>&1 && echo blk=readable || echo blk=denied)"
    try? FileManager.default.createSymbolicLink(atPath: "\(f.rootfs)/bin/cut", withDestinationPath: "busybox")
    try? FileManager.default.createSymbolicLink(atPath: "\(f.rootfs)/bin/sed", withDestinationPath: "busybox")
    try? FileManager.default.createSymbolicLink(atPath: "\(f.rootfs)/bin/mknod", withDestinationPath: "busybox")
    let plain = try f.runShell(script)
    #expect(plain.status == 0, "\(plain.stderr)")
    #expect(capEff(plain.stdout) == 0xa804_25fb)
    #expect(plain.stdout.contains("Seccomp:\t2"))
    #expect(plain.stdout.contains("timer_list=character special file"), "\(plain.stdout)")
    #expect(plain.stdout.contains("sys=ro"))
    #expect(plain.stdout.contains("No such file"), "no host devices: \(plain.stdout)")
    // The device cgroup: a node made with CAP_MKNOD cannot be opened.
    #expect(plain.stdout.contains("blk=denied"), "\(plain.stdout)")

    let priv = try f.runShell(script, app: ["--privileged"])
    #expect(priv.status == 0, "\(priv.stderr)")
    let caps = try #require(capEff(priv.stdout))
    #expect(caps & (1 << 21) != 0 && caps & (1 << 12) != 0, "CAP_SYS_ADMIN and CAP_NET_ADMIN: \(String(caps, radix: 16))")
    #expect(priv.stdout.contains("Seccomp:\t0"))
    #expect(priv.stdout.contains("timer_list=regular"), "\(priv.stdout)")
    #expect(priv.stdout.contains("sys=rw"))
    #expect(priv.stdout.contains("/dev/loop0") && !priv.stdout.contains("No such file"), "\(priv.stdout)")
    #expect(priv.stdout.contains("blk=readable"), "\(priv.stdout)")
  }

  @Test func namespacedSysctlsOnlyAndSeenInside() throws {
    let f = try PodFixture("sysctl")
    defer { f.tearDown() }
    let hostShm = try String(contentsOfFile: "/proc/sys/kernel/shmmni", encoding: .utf8)
    let r = try f.runShell(
      "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_unprivileged_port_start",
      app: ["--sysctl", "kernel.shmmni=1234", "--sysctl", "net/ipv4/ip_unprivileged_port_start=99"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout == "1234\n99\n", "\(r.stdout)")
    #expect(try String(contentsOfFile: "/proc/sys/kernel/shmmni", encoding: .utf8) == hostShm)
    for bad in ["vm.swappiness=1", "kernel.hostname=x", "kernel/../../x=1"] {
      let b = try f.runShell("true", app: ["--sysctl", bad])
      #expect(b.status != 0 && b.stderr.contains("sysctl"), "\(bad): \(b.stderr)")
    }
    let hostNet = try f.runShell("true", pod: ["--net", "host"], app: ["--sysctl", "net.ipv4.ip_forward=1"])
    #expect(hostNet.status != 0 && hostNet.stderr.contains("host's network"), "\(hostNet.stderr)")
  }

  @Test func supplementaryGroupsMergeAndStrict() throws {
    let f = try PodFixture("groups")
    defer { f.tearDown() }
    let merge = try f.runShell("id -G", app: ["--user", "alice", "--supplementary-groups", "4000,4001"])
    #expect(Set(merge.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })) == ["1000", "50", "29", "4000", "4001"], "\(merge)")
    let strict = try f.runShell(
      "id -G", app: ["--user", "alice", "--supplementary-groups", "4000", "--supplementary-groups-policy", "strict"])
    #expect(Set(strict.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" })) == ["1000", "4000"], "\(strict)")
    let bad = try f.runShell("true", app: ["--supplementary-groups", "staff"])
    #expect(bad.status != 0 && bad.stderr.contains("numeric"))
  }

  @Test func devicesWithPermissionsAndHostPIDNamespace() throws {
    let f = try PodFixture("dev")
    defer { f.tearDown() }
    // /dev/loop-control (10:237) is not in the default allow-list: read-only access as asked.
    let r = try f.runShell(
      "(exec 3</dev/ctl) && echo read-open; (exec 3>/dev/ctl) 2>/dev/null && echo write-open || echo write-denied; stat -c '%t:%T %a' /dev/ctl",
      app: ["--device", "/dev/loop-control:/dev/ctl:r"])
    #expect(r.status == 0, "\(r.stderr)")
    // The node keeps the host's mode (600 on a bare Debian, 660 once udev's rules have run).
    let hostMode = String((try FileSystem.fileStat("/dev/loop-control")).st_mode & 0o7777, radix: 8)
    #expect(r.stdout == "read-open\nwrite-denied\na:ed \(hostMode)\n", "\(r.stdout)")
    let rw = try f.runShell("(exec 3>/dev/loop-control) && echo write-open", app: ["--device", "/dev/loop-control"])
    #expect(rw.stdout == "write-open\n", "\(rw)")
    let missing = try f.runShell("true", app: ["--device", "/dev/no-such-device"])
    #expect(missing.status != 0 && missing.stderr.contains("/dev/no-such-device"))
    let notDev = try f.runShell("true", app: ["--device", "/etc/passwd:/dev/passwd"])
    #expect(notDev.status != 0 && notDev.stderr.contains("not a character or block device"), "\(notDev.stderr)")

    let own = try f.runShell("echo $$")
    #expect(own.stdout == "1\n")
    let host = try f.runShell("echo $$; ls /proc | grep -c '^[0-9]'", app: ["--pid-namespace", "host"])
    #expect(host.status == 0, "\(host.stderr)")
    let lines = host.stdout.split(separator: "\n")
    #expect(lines.first != "1" && (Int(lines.last ?? "") ?? 0) > 10, "\(host.stdout)")
    let pod = try f.runShell("true", app: ["--pid-namespace", "pod"])
    #expect(pod.status != 0 && pod.stderr.contains("needs a pod made with app sandbox --pid-namespace pod"), "\(pod.stderr)")
  }

  @Test func maskedAndReadonlyPathListsReplaceTheDefaults() throws {
    let f = try PodFixture("masks")
    defer { f.tearDown() }
    let script = "stat -c '%F' /proc/timer_list /proc/keys; (echo 1 > /proc/sys/kernel/shmmni) 2>/dev/null && echo sys-writable || echo sys-ro"
    let custom = try f.runShell(script, app: ["--masked-paths", "/proc/keys", "--readonly-paths", "/proc/sys"])
    #expect(custom.stdout == "regular empty file\ncharacter special file\nsys-ro\n", "\(custom)")
    let none = try f.runShell(script, app: ["--masked-paths=", "--readonly-paths="])
    #expect(none.stdout.hasPrefix("regular empty file\nregular empty file\n"), "\(none)")
    let bad = try f.runShell("true", app: ["--masked-paths", "proc/keys"])
    #expect(bad.status != 0 && bad.stderr.contains("must be absolute"))
  }

  @Test func hostIPCNamespaceForTheWholePod() throws {
    let f = try PodFixture("ipc")
    defer { f.tearDown() }
    let hostIPC = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/ipc")
    for (mode, same) in [("pod", false), ("host", true)] {
      let sb = try f.liftoff(["app", "sandbox", "--ipc-namespace", mode])
      #expect(sb.status == 0, "\(sb.stderr)")
      let id = sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
      let log = f.base + "/ipc-\(mode).log"
      #expect(try f.liftoff(["app", "add", id, f.rootfs, "--name", "a", "--log-path", log, "--exec", "/bin/readlink", "--", "/proc/self/ns/ipc"]).status == 0)
      #expect(try f.liftoff(["app", "start", "--app", "a", id]).status == 0)
      try waitFor("the app's output") { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("ipc:[") }
      let text = try String(contentsOfFile: log, encoding: .utf8)
      #expect(text.contains(hostIPC) == same, "\(mode): \(text) vs host \(hostIPC)")
      #expect(try f.liftoff(["stop", id]).status == 0)
    }
  }

  @Test func podSharedPIDNamespace() throws {
    let f = try PodFixture("pidpod")
    defer { f.tearDown() }
    let sb = try f.liftoff(["app", "sandbox", "--pid-namespace", "pod"])
    #expect(sb.status == 0, "\(sb.stderr)")
    let id = sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(try f.liftoff(["app", "add", id, f.rootfs, "--name", "a", "--exec", "/bin/sleep", "--", "4242"]).status == 0)
    let log = f.base + "/b.log"
    #expect(
      try f.liftoff([
        "app", "add", id, f.rootfs, "--name", "b", "--log-path", log, "--exec", "/bin/sh", "--", "-c",
        "sleep 0.5; ps -o pid,comm,args; echo own=$$; echo done",
      ]).status == 0)
    let own = try f.liftoff(["app", "add", id, f.rootfs, "--name", "c", "--pid-namespace", "container", "--exec", "/bin/true"])
    #expect(own.status != 0 && own.stderr.contains("share one PID namespace is not supported"), "\(own.stderr)")
    let host = try f.liftoff(["app", "add", id, f.rootfs, "--name", "h", "--pid-namespace", "host", "--exec", "/bin/true"])
    #expect(host.status != 0 && host.stderr.contains("share one PID namespace"), "\(host.stderr)")
    for a in ["a", "b"] { #expect(try f.liftoff(["app", "start", "--app", a, id]).status == 0) }
    try waitFor("b's ps") { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("done") }
    let text = try String(contentsOfFile: log, encoding: .utf8)
    let lines = text.split(separator: "\n").map { String($0.split(separator: " ", maxSplits: 3).last ?? "") }
    // PID 1 is the pod's reaper; a's sleep is visible from b; b is not PID 1.
    #expect(lines.contains { $0.split(separator: " ").prefix(2) == ["1", "pod-init"] }, "\(lines)")
    #expect(lines.contains { $0.hasSuffix("sleep 4242") }, "\(lines)")
    #expect(!lines.contains("own=1"))
    // A plain app may not ask for the pod's namespace in a pod without one.
    let plain = try f.liftoff(["app", "sandbox"])
    let pid = plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let refused = try f.liftoff(["app", "add", pid, f.rootfs, "--name", "x", "--pid-namespace", "pod", "--exec", "/bin/true"])
    #expect(refused.status != 0 && refused.stderr.contains("app sandbox --pid-namespace pod"), "\(refused.stderr)")
    for p in [id, pid] {
      #expect(try f.liftoff(["stop", p]).status == 0)
      #expect(try f.liftoff(["rm", p]).status == 0)
    }
    let left = try f.leftovers([id, pid])
    #expect(left.isEmpty, "\(left)")
  }

  @Test func cgroupParentNestsThePodsGroups() throws {
    let f = try PodFixture("cgparent")
    defer { f.tearDown() }
    let top = "lfttest-\(Random.hex(bytes: 4))"
    let parent = "/\(top)/burstable/pod1"
    let host = Cgroups.host()
    // The parent groups are the caller's (kubelet's) to remove: here, the test's.
    defer { GroupFiles.removeParents(host, ["\(top)/burstable/pod1", "\(top)/burstable", top]) }
    let sb = try f.liftoff(["app", "sandbox", "--cgroup-parent", parent])
    #expect(sb.status == 0, "\(sb.stderr)")
    let id = sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    #expect(try f.liftoff(["app", "add", id, f.rootfs, "--name", "a", "--memory", "64M", "--exec", "/bin/sleep", "--", "1000"]).status == 0)
    #expect(try f.liftoff(["app", "start", "--app", "a", id]).status == 0)
    let cg = host.under(String(parent.dropFirst()))
    let a = GroupFiles(cg, pod: id, app: "a")
    #expect(a.directory == "\(host.root)\(host.version == .v1 ? "/memory" : "")/\(top)/burstable/pod1/\(id)/a")
    #expect(a.memoryLimit == String(64 << 20))
    #expect(!a.read("memory", "cgroup.procs").isEmpty)
    let r = try f.liftoff(["app", "stats", "--format", "json", "--app", "a", id])
    let s = try JSONDecoder().decode(PodStats.self, from: Data(r.stdout.utf8))
    #expect(s.apps.first?.memory.limitBytes == 64 << 20 && (s.apps.first?.processCount ?? 0) == 1)
    #expect(try f.liftoff(["app", "update", "--app", "a", "--memory", "96M", id]).status == 0)
    #expect(a.memoryLimit == String(96 << 20))
    let bad = try f.liftoff(["app", "sandbox", "--cgroup-parent", "/a/../b"])
    #expect(bad.status != 0 && bad.stderr.contains("cgroup parent"), "\(bad.stderr)")
    #expect(try f.liftoff(["stop", id]).status == 0)
    #expect(try f.liftoff(["rm", id]).status == 0)
    #expect(!FileSystem.exists(cg.directory("memory", pod: id)))
  }
}
