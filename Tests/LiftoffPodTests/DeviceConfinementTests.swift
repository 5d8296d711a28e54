import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// Root integration tests of an app's device confinement on cgroup v2: the eBPF program on its group
/// in the cgroup2 hierarchy (here the hybrid one at /sys/fs/cgroup/unified, beside v1's `devices`
/// group, which the test widens to show the program holds by itself).
@Suite(.enabled(if: TestEnvironment.isRoot && Cgroups.host().unifiedDirectory(pod: "x") != nil, "needs root and a cgroup2 hierarchy"))
struct DeviceConfinementTests {
  func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

  @Test func filterHoldsWhenTheV1GroupIsWidenedAndGivenDevicesKeepTheirPermissions() throws {
    let f = try PodFixture("devbpf")
    defer { f.tearDown() }
    try? FileManager.default.createSymbolicLink(atPath: "\(f.rootfs)/bin/mknod", withDestinationPath: "busybox")
    // A host block device that host root can open: /dev/loop0. (This VM refuses even host root an
    // open of its disk, /dev/vda, so a node of that would prove nothing.)
    let (major, minor): (UInt32, UInt32) = (7, 0)
    let shared = f.base + "/shared"
    try FileSystem.makeDirectories(shared)
    let sb = try f.liftoff(["app", "sandbox"])
    #expect(sb.status == 0, "\(sb.stderr)")
    let id = sb.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    let log = f.base + "/probe.log"
    // Makes a node of the host's block device (CAP_MKNOD is in the default set and `b *:* m` is allowed),
    // waits for the test to widen its v1 group, then tries it, /dev/null and its own device.
    let script = [
      "mknod /dev/disk b \(major) \(minor) && echo mknod=ok", "echo ready",
      "while [ ! -e /shared/go ]; do sleep 0.05; done",
      "head -c 1 /dev/disk >/dev/null 2>&1 && echo disk=readable || echo disk=denied",
      "(exec 3>>/dev/disk) 2>/dev/null && echo disk-write=ok || echo disk-write=denied",
      "echo x > /dev/null && echo null=ok",
      "(exec 3</dev/ctl) && echo ctl-read=ok", "(exec 3>/dev/ctl) 2>/dev/null && echo ctl-write=ok || echo ctl-write=denied",
      "echo done", "exec sleep 1000",
    ].joined(separator: "; ")
    let add = try f.liftoff([
      "app", "add", id, f.rootfs, "--name", "probe", "--volume", "\(shared):/shared", "--device", "/dev/loop-control:/dev/ctl:r",
      "--log-path", log, "--exec", "/bin/sh", "--", "-c", script,
    ])
    #expect(add.status == 0, "\(add.stderr)")
    let start = try f.liftoff(["app", "start", "--app", "probe", id])
    #expect(start.status == 0, "\(start.stderr)")
    try waitFor("the app to be ready") { read(log).contains("ready") }
    #expect(read(log).contains("mknod=ok"), "\(read(log))")

    let cg = Cgroups.host()
    let group = try #require(cg.unifiedDirectory(pod: id, app: "probe"))
    #expect(try DeviceFilter.attachedCount(group) == 1)
    let pid = try #require(Int32(read("\(group)/cgroup.procs").split(separator: "\n").first ?? ""), "the app is in its cgroup2 group")
    #expect(pid > 0)
    if cg.hasController("devices") {
      let v1 = cg.directory("devices", pod: id, app: "probe")
      try FileSystem.writeControl("\(v1)/devices.allow", "a")
      #expect(read("\(v1)/devices.list") == "a *:* rwm\n", "the v1 group allows everything now")
    }
    try FileSystem.touch("\(shared)/go")
    try waitFor("the probe to finish") { read(log).contains("done") }
    let out = read(log)
    for line in ["disk=denied", "disk-write=denied", "null=ok", "ctl-read=ok", "ctl-write=denied"] {
      #expect(out.contains(line), "\(line): \(out)")
    }

    // A process started in the app by `liftoff enter` (as exec is) joins the same groups.
    let enter = try f.liftoff(["enter", "--app", "probe", id, "/bin/sh", "-c", "head -c 1 /dev/disk >/dev/null 2>&1 && echo disk=readable || echo disk=denied"])
    #expect(enter.status == 0 && enter.stdout == "disk=denied\n", "\(enter)")

    // An app is never started twice (stage1 refuses); its groups go when it exits.
    #expect(try f.liftoff(["app", "stop", "--app", "probe", id]).status == 0)
    // (stage1 records the exit, then removes the groups.)
    try waitFor("the app's cgroup2 group to be removed with it", timeout: 5) { !FileSystem.exists(group) }

    // A privileged app: no program, and the disk opens.
    let priv = try f.liftoff([
      "app", "add", id, f.rootfs, "--name", "priv", "--privileged", "--volume", "\(shared):/shared", "--exec", "/bin/sh", "--", "-c",
      "mknod /dev/disk b \(major) \(minor) && head -c 1 /dev/disk >/dev/null && echo disk=readable > /shared/priv; exec sleep 1000",
    ])
    #expect(priv.status == 0, "\(priv.stderr)")
    #expect(try f.liftoff(["app", "start", "--app", "priv", id]).status == 0)
    try waitFor("the privileged app") { read("\(shared)/priv").contains("disk=readable") }
    let privGroup = try #require(cg.unifiedDirectory(pod: id, app: "priv"))
    #expect(try DeviceFilter.attachedCount(privGroup) == 0)

    #expect(try f.liftoff(["stop", id]).status == 0)
    #expect(try f.liftoff(["rm", id]).status == 0)
    let left = try f.leftovers([id])
    #expect(left.isEmpty, "\(left)")
    #expect(!FileSystem.exists(cg.unifiedDirectory(pod: id) ?? ""))
  }
}
