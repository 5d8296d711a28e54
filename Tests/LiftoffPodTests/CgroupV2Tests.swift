import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// Root integration tests of the cgroup v2 interface on a real unified hierarchy: every resource field
/// written by stage1 and read back from the kernel's files and from inside the app, `unified` keys
/// (io too), pressure stall information, a nested cgroup parent, and the eBPF device filter as the only
/// device confinement. This test machine is cgroup v1: these run in the VM (hack/vm, profiles v2 and
/// systemd), and are skipped here.
@Suite(.enabled(if: TestEnvironment.isRoot && Cgroups.host().version == .v2, "needs root and a cgroup v2 host (hack/vm)"))
struct CgroupV2Tests {
  func read(_ path: String) -> String {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
  }

  func sandbox(_ f: PodFixture, _ extra: [String] = []) throws -> String {
    let sb = try f.liftoff(["app", "sandbox"] + extra)
    #expect(sb.status == 0, "\(sb.stderr)")
    return sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// A block device the guest has (no disk: the root is 9p): loop0, from the loop module.
  func loopDevice() -> String? {
    if !FileSystem.exists("/sys/block/loop0") {
      let p = try? Process.run(URL(fileURLWithPath: "/sbin/modprobe"), arguments: ["loop"])
      p?.waitUntilExit()
    }
    return FileSystem.exists("/sys/block/loop0") ? read("/sys/block/loop0/dev") : nil
  }

  @Test func everyFieldIsWrittenAndReadBackFromTheKernelAndFromInside() throws {
    let f = try PodFixture("v2all")
    defer { f.tearDown() }
    let cg = Cgroups.host()
    let id = try sandbox(f)
    let log = f.base + "/inside.log"
    var args = [
      "app", "add", id, f.rootfs, "--name", "all", "--log-path", log,
      "--memory", "64M", "--memory-swap", "96M", "--cpu-period", "50000", "--cpu-quota", "25000", "--cpu-shares", "512",
      "--cpuset-cpus", "0", "--cpuset-mems", "0", "--pids", "33", "--unified", "memory.high=50331648",
    ]
    let hugetlb = cg.hasController("hugetlb") && FileSystem.exists("/sys/kernel/mm/hugepages/hugepages-2048kB")
    if hugetlb { args += ["--hugepage", "2MB=4M"] }
    let io = cg.hasController("io") ? loopDevice() : nil
    if let io { args += ["--unified", "io.max=\(io) rbps=1048576 wiops=120"] }
    args += [
      "--exec", "/bin/sh", "--", "-c",
      "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max /sys/fs/cgroup/cpu.max; grep Cpus_allowed_list /proc/self/status; "
        + "echo ready; exec sleep 1000",
    ]
    let add = try f.liftoff(args)
    #expect(add.status == 0, "\(add.stderr)")
    let start = try f.liftoff(["app", "start", "--app", "all", id])
    #expect(start.status == 0, "\(start.stderr)")
    try waitFor("the app to be ready") { read(log).contains("ready") }

    let g = GroupFiles(cg, pod: id, app: "all")
    #expect(g.read("memory", "memory.max") == "67108864")
    #expect(g.read("memory", "memory.swap.max") == String(32 << 20), "memory+swap 96M − memory 64M")
    #expect(g.read("memory", "memory.high") == "50331648")
    #expect(g.read("cpu", "cpu.max") == "25000 50000")
    #expect(g.read("cpu", "cpu.weight") == String(Cgroups.weight(shares: 512)))
    #expect(g.read("cpuset", "cpuset.cpus") == "0" && g.read("cpuset", "cpuset.mems") == "0")
    #expect(g.read("pids", "pids.max") == "33")
    if hugetlb { #expect(g.read("hugetlb", "hugetlb.2MB.max") == String(4 << 20)) }
    if let io { #expect(g.read("io", "io.max").hasPrefix("\(io) rbps=1048576 wbps=max riops=max wiops=120"), "\(g.read("io", "io.max"))") }
    // Every controller the host has reaches the app's group (the parents pass them all on).
    let hostControllers = Set(read("\(cg.root)/cgroup.controllers").split(separator: " ").map(String.init))
    #expect(Set(g.read("memory", "cgroup.controllers").split(separator: " ").map(String.init)) == hostControllers)
    // Inside: its own group at /sys/fs/cgroup (read-only), and the CPUs it may use.
    // (CRI log lines: `TIME stdout F TEXT`.)
    let inside = read(log).split(separator: "\n").map { $0.split(separator: " ", maxSplits: 3).last.map(String.init) ?? "" }
    #expect(Array(inside.prefix(4)) == ["67108864", "33", "25000 50000", "Cpus_allowed_list:\t0"], "\(inside)")
    let ro = try f.liftoff(["enter", "--app", "all", id, "/bin/sh", "-c", "echo 1 > /sys/fs/cgroup/pids.max 2>/dev/null && echo wrote || echo read-only"])
    #expect(ro.stdout == "read-only\n", "\(ro)")

    // Stats from the v2 files, pressure included (the Debian kernel has PSI).
    let stats = try f.liftoff(["app", "stats", "--format", "json", "--app", "all", id])
    let s = try JSONDecoder().decode(PodStats.self, from: Data(stats.stdout.utf8))
    let app = try #require(s.apps.first)
    #expect(app.memory.limitBytes == 64 << 20 && app.swap.limitBytes == 32 << 20 && app.swap.usageBytes == 0)
    #expect(app.processCount == 1)
    if FileSystem.exists(g.directory + "/cpu.pressure") {
      let total = UInt64(read(g.directory + "/cpu.pressure").split(separator: "\n").first?.split(separator: "=").last ?? "") ?? 0
      #expect((app.cpu.psi?.some?.total ?? 0) <= total + 1_000_000 && app.memory.psi?.some != nil && app.io.psi?.full != nil)
    }

    // Live update of the v2 files; a unified key that moves processes is refused and nothing changes.
    let up = try f.liftoff(["app", "update", "--app", "all", "--memory", "80M", "--cpu-quota=-1", "--pids", "44", "--unified", "memory.low=1048576", id])
    #expect(up.status == 0, "\(up.stderr)")
    #expect(g.read("memory", "memory.max") == String(80 << 20) && g.read("cpu", "cpu.max") == "max 50000")
    #expect(g.read("pids", "pids.max") == "44" && g.read("memory", "memory.low") == "1048576")
    let bad = try f.liftoff(["app", "update", "--app", "all", "--unified", "cgroup.procs=1", id])
    #expect(bad.status != 0 && bad.stderr.contains("cgroup.procs"), "\(bad.stderr)")
    let missing = try f.liftoff(["app", "update", "--app", "all", "--unified", "nosuch.file=1", id])
    #expect(missing.status != 0 && missing.stderr.contains("nosuch.file"), "\(missing.stderr)")
    #expect(g.read("pids", "pids.max") == "44")

    #expect(try f.liftoff(["stop", id]).status == 0)
    #expect(!FileSystem.exists(g.directory))
    #expect(try f.liftoff(["rm", id]).status == 0)
  }

  @Test func aNestedParentPassesEveryControllerDown() throws {
    let f = try PodFixture("v2parent")
    defer { f.tearDown() }
    let host = Cgroups.host()
    let top = "lfttest-\(Random.hex(bytes: 4))"
    defer { GroupFiles.removeParents(host, ["\(top)/burstable/pod1", "\(top)/burstable", top]) }
    let id = try sandbox(f, ["--cgroup-parent", "/\(top)/burstable/pod1"])
    let add = try f.liftoff(["app", "add", id, f.rootfs, "--name", "a", "--memory", "32M", "--pids", "9", "--exec", "/bin/sleep", "--", "1000"])
    #expect(add.status == 0, "\(add.stderr)")
    let start = try f.liftoff(["app", "start", "--app", "a", id])
    #expect(start.status == 0, "\(start.stderr)")
    let g = GroupFiles(host.under("\(top)/burstable/pod1"), pod: id, app: "a")
    #expect(g.directory == "\(host.root)/\(top)/burstable/pod1/\(id)/a")
    #expect(g.read("memory", "memory.max") == String(32 << 20) && g.read("pids", "pids.max") == "9")
    for level in [top, "\(top)/burstable", "\(top)/burstable/pod1", "\(top)/burstable/pod1/\(id)"] {
      let enabled = read("\(host.root)/\(level)/cgroup.subtree_control").split(separator: " ")
      #expect(["cpu", "memory", "pids"].allSatisfy { enabled.contains(Substring($0)) }, "\(level): \(enabled)")
    }
    #expect(try f.liftoff(["stop", id]).status == 0)
    #expect(try f.liftoff(["rm", id]).status == 0)
  }

  @Test func theDeviceFilterAloneKeepsAnAppFromTheHostsBlockDevice() throws {
    let f = try PodFixture("v2dev")
    defer { f.tearDown() }
    try? FileManager.default.createSymbolicLink(atPath: "\(f.rootfs)/bin/mknod", withDestinationPath: "busybox")
    let dev = try #require(loopDevice(), "a loop device")
    let parts = dev.split(separator: ":")
    let cg = Cgroups.host()
    #expect(!cg.hasController("devices"), "v2 has no devices controller: only the eBPF program confines")
    let probe = "mknod /d b \(parts[0]) \(parts[1]) && echo mknod=ok; head -c 1 /d >/dev/null 2>&1 && echo disk=readable || echo disk=denied"
    let id = try sandbox(f)
    let out = f.base + "/out"
    try FileSystem.makeDirectories(out)
    for (name, extra) in [("plain", [String]()), ("priv", ["--privileged"])] {
      let add = try f.liftoff(
        ["app", "add", id, f.rootfs, "--name", name] + extra + ["--volume", "\(out):/out", "--exec", "/bin/sh", "--", "-c", "(\(probe)) > /out/\(name); exec sleep 1000"])
      #expect(add.status == 0, "\(add.stderr)")
      #expect(try f.liftoff(["app", "start", "--app", name, id]).status == 0)
      try waitFor("\(name) to probe") { read("\(out)/\(name)").contains("disk=") }
    }
    #expect(read("\(out)/plain") == "mknod=ok\ndisk=denied")
    #expect(read("\(out)/priv") == "mknod=ok\ndisk=readable", "without the filter the same node opens: the test can fail")
    let group = try #require(cg.unifiedDirectory(pod: id, app: "plain"))
    #expect(try DeviceFilter.attachedCount(group) == 1)
    let exec = try f.liftoff(["enter", "--app", "plain", id, "/bin/sh", "-c", "head -c 1 /d >/dev/null 2>&1 && echo readable || echo denied"])
    #expect(exec.stdout == "denied\n", "\(exec)")
    #expect(try f.liftoff(["stop", id]).status == 0)
    #expect(try f.liftoff(["rm", id]).status == 0)
  }
}
