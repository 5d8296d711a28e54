import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// Root integration tests: real pods through the built `liftoff` and `liftoff-stage1`, checked
/// from inside the app.
@Suite(.needsRoot)
struct PodIsolationTests {
  @Test func defaultIsolationFromInside() throws {
    let f = try PodFixture("iso")
    defer { f.tearDown() }
    let r = try f.runShell(
      "echo pid=$$; hostname; ls /proc | grep -c '^[0-9]'; grep -E '^(CapEff|CapBnd|CapInh|CapAmb|Seccomp|NoNewPrivs):' /proc/self/status; echo fds=$(ls /proc/self/fd | wc -l)",
      pod: ["--hostname", "podhost"])
    #expect(r.status == 0, "\(r.stderr)")
    let lines = r.stdout.split(separator: "\n").map(String.init)
    #expect(lines.contains("pid=1"))
    #expect(lines.contains("podhost"))
    // Only the shell and grep/ls themselves: no host process is visible.
    #expect(Int(lines[2]).map { $0 <= 3 } == true, "\(lines)")
    #expect(lines.contains("CapEff:\t00000000a80425fb"))
    #expect(lines.contains("CapBnd:\t00000000a80425fb"))
    #expect(lines.contains("CapInh:\t0000000000000000"))
    #expect(lines.contains("CapAmb:\t0000000000000000"))
    #expect(lines.contains("Seccomp:\t2"))
    #expect(lines.contains("NoNewPrivs:\t1"))
    // 0, 1, 2 and ls's own directory: nothing of stage1's or its caller's descriptors leaks in.
    #expect(lines.contains("fds=4"), "\(lines)")
  }

  @Test func capabilityFlagsChangeTheSet() throws {
    let f = try PodFixture("caps")
    defer { f.tearDown() }
    let retain = try f.runShell("grep ^CapEff: /proc/self/status", app: ["--caps-retain", "CAP_CHOWN,CAP_KILL"])
    #expect(retain.stdout.contains("CapEff:\t0000000000000021"), "\(retain)")
    let remove = try f.runShell("grep ^CapEff: /proc/self/status", app: ["--caps-remove", "NET_RAW"])
    #expect(remove.stdout.contains("CapEff:\t00000000a80405fb"), "\(remove)")
    let bad = try f.runShell("true", app: ["--caps-retain", "CAP_NOPE"])
    #expect(bad.status != 0 && bad.stderr.contains("CAP_NOPE"))
  }

  @Test func seccompDeniesWhatTheDefaultProfileDenies() throws {
    let f = try PodFixture("seccomp")
    defer { f.tearDown() }
    // mount(2) needs CAP_SYS_ADMIN and is not in the allow-list: EPERM either way, but with
    // --seccomp unconfined the Seccomp field shows the filter is gone.
    let unconfined = try f.runShell("grep ^Seccomp: /proc/self/status", app: ["--seccomp", "unconfined"])
    #expect(unconfined.stdout.contains("Seccomp:\t0"), "\(unconfined)")
    let confined = try f.runShell("mount -t tmpfs t /tmp; echo rc=$?")
    #expect(confined.stdout.contains("rc=") && !confined.stdout.contains("rc=0"), "\(confined)")
  }

  @Test func readOnlyRootfsMaskedPathsAndVolumes() throws {
    let f = try PodFixture("ro")
    defer { f.tearDown() }
    let vol = f.base + "/vol"
    try FileManager.default.createDirectory(atPath: vol, withIntermediateDirectories: true)
    try "data\n".write(toFile: vol + "/f", atomically: true, encoding: .utf8)
    let r = try f.runShell(
      """
      touch /x 2>/dev/null; echo root=$?
      touch /ro/y 2>/dev/null; echo ro=$?
      touch /rw/z; echo rw=$?
      cat /ro/f
      echo keys=$(cat /proc/keys | wc -c) timers=$(cat /proc/timer_list | wc -c) fw=$(ls /sys/firmware | wc -l)
      echo 1 > /proc/sys/kernel/hostname 2>/dev/null; echo procsys=$?
      touch /sys/x 2>/dev/null; echo sys=$?
      """, app: ["--readonly-rootfs", "--volume", "\(vol):/ro:ro", "--volume", "\(vol):/rw"])
    #expect(r.status == 0, "\(r.stderr)")
    for expected in ["root=1", "ro=1", "rw=0", "data", "keys=0 timers=0 fw=0", "procsys=1", "sys=1"] {
      #expect(r.stdout.contains(expected), "missing \(expected) in \(r.stdout)")
    }
    #expect(FileSystem.exists(vol + "/z"))
    #expect(!FileSystem.exists(vol + "/y"))
  }

  /// The rootfs overlay is volatile (Mounts.overlay): it does not sync the host's filesystem that holds
  /// its upper dir, neither on the app's syncs nor when it is unmounted at the app's removal.
  @Test func theRootfsOverlayIsVolatile() throws {
    let f = try PodFixture("volatile")
    defer { f.tearDown() }
    let r = try f.runShell("grep ' / / ' /proc/self/mountinfo")
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout.contains(" - overlay ") && r.stdout.contains("volatile"), "\(r.stdout)")  // 6.x: fsync=volatile
  }

  /// `ro` leaves a volume's submounts writable; `rro` (mount_setattr, AT_RECURSIVE) does not.
  @Test func recursiveReadOnlyVolumeCoversItsSubmounts() throws {
    let f = try PodFixture("rro")
    defer { f.tearDown() }
    let vol = f.base + "/vol"
    try FileManager.default.createDirectory(atPath: vol + "/sub", withIntermediateDirectories: true)
    try Mounts.mount("tmpfs", vol + "/sub", type: "tmpfs", data: "size=1m")
    defer { _ = try? Mounts.unmount(vol + "/sub") }
    let r = try f.runShell(
      """
      touch /ro/a 2>/dev/null; echo ro=$?
      touch /ro/sub/b 2>/dev/null; echo rosub=$?
      touch /rro/c 2>/dev/null; echo rro=$?
      touch /rro/sub/d 2>/dev/null; echo rrosub=$?
      grep ' /rro/sub ' /proc/self/mountinfo | cut -d' ' -f6
      """, app: ["--volume", "\(vol):/ro:ro", "--volume", "\(vol):/rro:rro"])
    #expect(r.status == 0, "\(r.stderr)")
    #expect(r.stdout == "ro=1\nrosub=0\nrro=1\nrrosub=1\nro,relatime\n", "\(r.stdout)")
    #expect(FileSystem.exists(vol + "/sub/b"))
    #expect(!FileSystem.exists(vol + "/sub/d"))
    // rro is for a private, read-only bind only.
    let pods = try f.list().count
    let shared = try f.liftoff(["run", "--net", "none", f.rootfs, "--volume", "\(vol):/v:rro:rshared", "--exec", "/bin/true"])
    #expect(shared.status != 0 && shared.stderr.contains("recursive read-only needs private propagation"), "\(shared.stderr)")
    #expect(try f.list().count == pods)
  }

  @Test func userAndGroups() throws {
    let f = try PodFixture("user")
    defer { f.tearDown() }
    let alice = try f.runShell("id; echo home=$HOME", app: ["--user", "alice"])
    #expect(alice.stdout.contains("uid=1000(alice) gid=1000(alice) groups=29(audio),50(staff),1000(alice)"), "\(alice)")
    #expect(alice.stdout.contains("home=/home/alice"))
    let numeric = try f.runShell("id -u; id -g; grep ^CapEff: /proc/self/status", app: ["--user", "4242", "--group", "staff"])
    #expect(numeric.stdout.hasPrefix("4242\n50\n"), "\(numeric)")
    #expect(numeric.stdout.contains("CapEff:\t0000000000000000"))
    let missing = try f.runShell("true", app: ["--user", "mallory"])
    #expect(missing.status != 0 && missing.stderr.contains("mallory"))
  }

  /// `--caps-ambient`: a non-root app keeps the capability across execve (CapAmb, CapEff), and so
  /// does a command entered into it; without it a non-root app has none.
  @Test func ambientCapabilitiesReachANonRootApp() throws {
    let f = try PodFixture("ambient")
    defer { f.tearDown() }
    let plain = try f.runShell("grep -E '^Cap(Eff|Amb):' /proc/self/status", app: ["--user", "1000"])
    #expect(plain.stdout == "CapEff:\t0000000000000000\nCapAmb:\t0000000000000000\n", "\(plain)")
    // CAP_NET_BIND_SERVICE is bit 10; CAP_NET_ADMIN (12) is not in the default set: added by being ambient.
    let running = try f.start([
      "run", f.rootfs, "--user", "1000", "--caps-ambient", "NET_BIND_SERVICE,cap_net_admin", "--exec", "/bin/sleep", "--", "1000",
    ])
    let id = try f.waitForRunningPod()
    let pid = try #require(try f.statusJSON(id).apps.first?.pid)
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    #expect(status.contains("CapAmb:\t0000000000001400") && status.contains("CapEff:\t0000000000001400"), "\(status)")
    let entered = try f.liftoff(["enter", id, "/bin/sh", "-c", "id -u; grep -E '^Cap(Eff|Amb):' /proc/self/status"])
    #expect(entered.stdout == "1000\nCapEff:\t0000000000001400\nCapAmb:\t0000000000001400\n", "\(entered)")
    #expect(try f.liftoff(["stop", "--force", id]).status == 0)
    _ = try f.finish(running)
    let bad = try f.runShell("true", app: ["--caps-ambient", "CAP_NOPE"])
    #expect(bad.status != 0 && bad.stderr.contains("unknown ambient capability CAP_NOPE"), "\(bad.stderr)")
  }

  @Test func environmentAndWorkingDirectory() throws {
    let f = try PodFixture("env")
    defer { f.tearDown() }
    let r = try f.runShell("echo $FOO; echo $PATH; pwd", app: ["--set-env", "FOO=bar", "--working-dir", "/work/dir"])
    #expect(r.stdout == "bar\n\(ProcessControl.defaultPath)\n/work/dir\n", "\(r)")
  }

  @Test func flySeesTheHostNamespaces() throws {
    let f = try PodFixture("fly")
    defer { f.tearDown() }
    let r = try f.runShell("for n in mnt pid net ipc uts; do readlink /proc/self/ns/$n; done", pod: ["--stage1", "fly", "--net", "host"])
    #expect(r.status == 0, "\(r.stderr)")
    var host = ""
    for n in ["mnt", "pid", "net", "ipc", "uts"] { host += (try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(n)")) + "\n" }
    #expect(r.stdout == host)
    #expect(try f.leftovers([]).isEmpty)
  }

  @Test func hostNetworkSharesTheHostNetns() throws {
    let f = try PodFixture("hostnet")
    defer { f.tearDown() }
    let r = try f.runShell("readlink /proc/self/ns/net", pod: ["--net", "host"])
    #expect(r.stdout == (try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")) + "\n")
    let none = try f.runShell("readlink /proc/self/ns/net; ls /sys/class/net", pod: ["--net", "none"])
    #expect(!none.stdout.contains(try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")))
    #expect(none.stdout.hasSuffix("lo\n"), "\(none)")
  }
}
