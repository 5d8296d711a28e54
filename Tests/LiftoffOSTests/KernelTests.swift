import CSeccomp
import Glibc
import LiftoffCore
import LiftoffOS
import Testing

@Suite struct CapabilityTests {
  @Test func defaultSetIsDockersMask() throws {
    #expect(try Capabilities.mask(Capabilities.defaultSet) == 0xa804_25fb)
    #expect(Capabilities.normalize("sys_admin") == "CAP_SYS_ADMIN")
    #expect(Capabilities.normalize("CAP_NOPE") == nil)
    #expect(throws: LiftoffError.self) { try Capabilities.mask(["CAP_NOPE"]) }
  }
}

@Suite struct SeccompTests {
  @Test func compilesTheRuntimeDefaultProfile() throws {
    let dir = try makeTempDir("seccomp")
    defer { try? FileSystem.removeTree(dir) }
    let path = "\(dir)/p.bpf"
    let fd = open(path, O_WRONLY | O_CREAT, 0o644)
    try Seccomp.compileRuntimeDefault(capabilities: Capabilities.defaultSet, to: fd)
    close(fd)
    let bpf = try FileSystem.readBytes(path)
    // struct sock_filter is 8 bytes; an allow-list of ~350 syscalls is hundreds of instructions.
    #expect(bpf.count % 8 == 0)
    #expect(bpf.count / 8 > 300)
  }
}

@Suite struct CgroupsV2FakeHierarchyTests {
  @Test func createsLimitsDelegatesControllersAndRemoves() throws {
    let root = try makeTempDir("cgv2")
    defer { try? FileSystem.removeTree(root) }
    try FileSystem.writeControl("\(root)/cgroup.controllers", "cpu memory pids\n")
    let cg = Cgroups(root: root, version: .v2, parent: "liftoff")
    try cg.create(pod: "p1", app: "a", resources: AppResources(memoryBytes: 64 << 20, cpuMillis: 250, pidsMax: 10, cpuShares: 1024))
    let app = "\(root)/liftoff/p1/a"
    #expect(try FileSystem.readString("\(app)/memory.max") == String(64 << 20))
    #expect(try FileSystem.readString("\(app)/cpu.max") == "25000 100000")
    #expect(try FileSystem.readString("\(app)/pids.max") == "10")
    #expect(try FileSystem.readString("\(app)/cpu.weight") == "39")
    for d in [root, "\(root)/liftoff", "\(root)/liftoff/p1"] {
      #expect(try FileSystem.readString("\(d)/cgroup.subtree_control") == "+cpu +memory +pids")
    }
    try FileSystem.writeAtomically("\(app)/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    #expect(cg.oomKilled(pod: "p1", app: "a"))
    #expect(cg.directories(pod: "p1", app: "a") == [app])
    #expect(cg.removePod("p1"))
    #expect(!FileSystem.exists("\(root)/liftoff/p1"))
  }

  @Test func v1LayoutPerController() throws {
    let root = try makeTempDir("cgv1")
    defer { try? FileSystem.removeTree(root) }
    let cg = Cgroups(root: root, version: .v1)
    try cg.create(pod: "p", app: "a", resources: AppResources(memoryBytes: 1 << 30, cpuMillis: 1500, pidsMax: nil))
    #expect(try FileSystem.readString("\(root)/memory/liftoff/p/a/memory.limit_in_bytes") == String(1 << 30))
    #expect(try FileSystem.readString("\(root)/cpu/liftoff/p/a/cpu.cfs_quota_us") == "150000")
    #expect(!FileSystem.exists("\(root)/pids/liftoff/p/a/pids.max"))
    #expect(!cg.oomKilled(pod: "p", app: "a"))
    #expect(cg.removePod("p"))
  }
}

@Suite struct FileSystemTests {
  @Test func atomicWriteReplacesAndLeavesNoTemp() throws {
    let dir = try makeTempDir("fs")
    defer { try? FileSystem.removeTree(dir) }
    try FileSystem.writeAtomically("\(dir)/f", "one")
    try FileSystem.writeAtomically("\(dir)/f", "two")
    #expect(try FileSystem.readString("\(dir)/f") == "two")
    #expect(try FileSystem.list(dir) == ["f"])
  }

  @Test func removeTreeStopsAtMountPoints() throws {
    let dir = try makeTempDir("rmtree")
    defer {
      _ = try? Mounts.unmountAll(under: dir)
      try? FileSystem.removeTree(dir)
    }
    try FileSystem.makeDirectories("\(dir)/a/m")
    try Mounts.mount("tmpfs", "\(dir)/a/m", type: "tmpfs")
    try FileSystem.writeAtomically("\(dir)/a/m/keep", "x")
    #expect(throws: SystemCallError.self) { try FileSystem.removeTree(dir) }
    #expect(try FileSystem.readString("\(dir)/a/m/keep") == "x")
    #expect(try Mounts.unmountAll(under: try Mounts.canonical(dir)).count == 1)
    try FileSystem.removeTree(dir)
    #expect(!FileSystem.exists(dir))
  }

  @Test func mountinfoEscapesAreDecoded() {
    let line = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n"
    #expect(Mounts.parseMountPoints(line) == ["/mnt/with space"])
  }

  @Test func flockIsExclusiveAcrossOpens() throws {
    let dir = try makeTempDir("lock")
    defer { try? FileSystem.removeTree(dir) }
    let a = try FileLock(path: dir)
    #expect(try a.lock(exclusive: true))
    #expect(try FileLock.isHeld(dir))
    a.unlock()
    #expect(try !FileLock.isHeld(dir))
  }
}
