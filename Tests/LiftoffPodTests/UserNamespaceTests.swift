import Foundation
import LiftoffCore
import LiftoffOS
import LiftoffPod
import LiftoffTestSupport
import Testing

/// Root integration tests of user-namespaced pods (`--userns-uid-map/--userns-gid-map`) and idmapped
/// volumes, through the `liftoff` binary: what the app sees inside, what the host sees of it.
@Suite(.needsRoot)
struct UserNamespaceTests {
  /// A host ID base of the kind kubelet picks (N·65536), random so that parallel runs differ.
  static func hostBase() -> UInt32 { UInt32(Int.random(in: 40...4000)) * 65536 }

  static func owner(_ path: String) throws -> (UInt32, UInt32) {
    var st = stat()
    guard lstat(path, &st) == 0 else { throw SystemCallError("lstat", errno: errno, path: path) }
    return (st.st_uid, st.st_gid)
  }

  static func read(_ path: String) -> String {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
  }

  @Test func appRunsAsRootOfThePodsUserNamespaceWithHostIDsOutside() throws {
    let f = try PodFixture("userns")
    defer { f.tearDown() }
    let h = Self.hostBase()
    // An emptyDir-like volume (0777, host root's) and a root-owned 0755 dir idmapped with the pod's mapping.
    let vol = f.base + "/vol"
    let mapped = f.base + "/mapped"
    try FileManager.default.createDirectory(atPath: vol, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: mapped, withIntermediateDirectories: true)
    chmod(vol, 0o777)
    chmod(mapped, 0o755)
    try "host\n".write(toFile: mapped + "/hostfile", atomically: false, encoding: .utf8)
    let script = """
      cat /proc/self/uid_map > /vol/uid_map; cat /proc/self/gid_map > /vol/gid_map; id -u > /vol/uid; id -g > /vol/gid
      stat -c %u:%g /bin/busybox > /vol/busybox; stat -c %u:%g /mapped/hostfile > /vol/hostfile
      grep CapEff /proc/self/status > /vol/capeff; readlink /proc/self/ns/user > /vol/ns
      mount -t tmpfs t /tmp 2>/dev/null; echo $? > /vol/mount
      hostname other 2>/dev/null; echo $? > /vol/hostname
      echo x > /created; echo y > /vol/written; echo z > /mapped/written
      touch /vol/done; exec sleep 1000
      """
    let running = try f.start([
      "run", "--stop-timeout", "1", "--userns-uid-map", "0:\(h):65536", "--userns-gid-map", "0:\(h):65536", f.rootfs, "--name", "app",
      // CAP_SYS_ADMIN too: held in the user namespace, it must still not reach the pod's namespaces.
      "--caps-retain", "CAP_SYS_ADMIN,CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_SETUID,CAP_SETGID,CAP_KILL",
      "--volume", "\(vol):/vol", "--volume", "\(mapped):/mapped:uidmap=0-\(h)-65536:gidmap=0-\(h)-65536",
      "--exec", "/bin/sh", "--", "-c", script,
    ])
    defer { kill(running.process.processIdentifier, SIGTERM) }
    let id = try f.waitForRunningPod()
    let deadline = Date().addingTimeInterval(20)
    while !FileManager.default.fileExists(atPath: vol + "/done") && Date() < deadline { usleep(20_000) }
    try #require(FileManager.default.fileExists(atPath: vol + "/done"), "the app did not finish its checks")

    // Inside: exactly the mapping, root, the image's root-owned files owned by 0, the idmapped
    // host-root file by 0 too; a full-ish capability set that still cannot mount or set the hostname.
    let words = { (s: String) in s.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ") }
    #expect(words(Self.read(vol + "/uid_map")) == "0 \(h) 65536")
    #expect(words(Self.read(vol + "/gid_map")) == "0 \(h) 65536")
    #expect(Self.read(vol + "/uid") == "0" && Self.read(vol + "/gid") == "0")
    #expect(Self.read(vol + "/busybox") == "0:0")
    #expect(Self.read(vol + "/hostfile") == "0:0")
    let capEff = UInt64(Self.read(vol + "/capeff").split(separator: "\t").last ?? "", radix: 16) ?? 0
    // CAP_CHOWN 0, DAC_OVERRIDE 1, FOWNER 3, KILL 5, SETGID 6, SETUID 7, SYS_ADMIN 21.
    let wanted: UInt64 = [0, 1, 3, 5, 6, 7, 21].reduce(0) { $0 | (UInt64(1) << UInt64($1)) }
    #expect(capEff == wanted, "\(Self.read(vol + "/capeff"))")
    #expect(Self.read(vol + "/mount") != "0", "mount succeeded inside the user namespace")
    #expect(Self.read(vol + "/hostname") != "0", "sethostname succeeded on the pod's UTS namespace")

    // Outside: the app's process has the mapped host uid; what it wrote has host IDs of the mapping
    // (upper layer, plain volume), or the idmapped volume's own (host root).
    let status = try f.statusJSON(id)
    let pid = try #require(status.apps.first?.pid)
    let procStatus = Self.read("/proc/\(pid)/status")
    #expect(procStatus.contains("\nUid:\t\(h)\t\(h)\t\(h)\t\(h)\n"), "\(procStatus)")
    let upper = "\(f.dataDir)/pods/run/\(id)/apps/app/rootfs/upper"
    #expect(try Self.owner(upper + "/created") == (h, h))
    #expect(try Self.owner(upper) == (h, h))
    #expect(try Self.owner(vol + "/written") == (h, h))
    #expect(try Self.owner(mapped + "/written") == (0, 0))
    #expect(try Self.owner(vol + "/uid_map") == (h, h))

    // liftoff enter lands in the same user namespace, as root of it.
    let e = try f.liftoff(["enter", "--app", "app", id, "/bin/sh", "-c", "readlink /proc/self/ns/user; id -u; cat /proc/self/uid_map"])
    #expect(e.status == 0, "\(e.stderr)")
    let lines = e.stdout.split(separator: "\n").map(String.init)
    #expect(lines.first == Self.read(vol + "/ns"))
    #expect(lines.count > 1 && lines[1] == "0")
    #expect(lines.count > 2 && words(lines[2]) == "0 \(h) 65536")
    let hostNS = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/user")
    #expect(lines.first != hostNS)

    #expect(try f.liftoff(["stop", id]).status == 0)
    _ = try f.finish(running)
  }

  @Test func badMappingFlagsGiveClearErrorsAndWriteNothing() throws {
    let f = try PodFixture("usernsbad")
    defer { f.tearDown() }
    let many = (0..<341).flatMap { ["--userns-uid-map", "\($0):\(100000 + $0):1"] }
    let cases: [([String], String)] = [
      (["--userns-uid-map", "0:100000:0", "--userns-gid-map", "0:100000:1"], "--userns-uid-map[0]: length must be positive"),
      (["--userns-uid-map", "0:100000:10", "--userns-uid-map", "5:200000:10", "--userns-gid-map", "0:1:1"], "--userns-uid-map[1]: container ids overlap"),
      (["--userns-uid-map", "0:100000:10", "--userns-gid-map", "0:100000:10", "--userns-gid-map", "20:100005:10"], "--userns-gid-map[1]: host ids overlap"),
      (["--userns-uid-map", "4294967295:100000:2", "--userns-gid-map", "0:1:1"], "--userns-uid-map[0]: container id 4294967295"),
      (["--userns-uid-map", "0:4294967000:65536", "--userns-gid-map", "0:1:1"], "--userns-uid-map[0]: host id"),
      (["--userns-uid-map", "0:abc:1", "--userns-gid-map", "0:1:1"], "--userns-uid-map 0:abc:1: expected CONTAINER:HOST:LENGTH"),
      (["--userns-uid-map", "0:100000:65536"], "--userns-uid-map needs --userns-gid-map"),
      (many + ["--userns-gid-map", "0:1:1"], "--userns-uid-map: 341 mappings, at most 340"),
      (["--stage1", "fly", "--net", "host", "--userns-uid-map", "0:100000:65536", "--userns-gid-map", "0:100000:65536"], "stage1 fly"),
    ]
    for (flags, message) in cases {
      let r = try f.liftoff(["run"] + flags + [f.rootfs, "--exec", "/bin/true"])
      #expect(r.status != 0)
      #expect(r.stderr.contains(message), "\(flags.prefix(6)): \(r.stderr)")
      #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
    }
    let sandbox = try f.liftoff(["app", "sandbox", "--userns-uid-map", "0:100000:0", "--userns-gid-map", "0:100000:1"])
    #expect(sandbox.status != 0 && sandbox.stderr.contains("--userns-uid-map[0]: length must be positive"), "\(sandbox.stderr)")
    let volume = try f.liftoff(["run", f.rootfs, "--volume", "\(f.base):/v:uidmap=0-1-0:gidmap=0-1-1", "--exec", "/bin/true"])
    #expect(volume.status != 0 && volume.stderr.contains("uidmap[0]: length must be positive"), "\(volume.stderr)")
    let half = try f.liftoff(["run", f.rootfs, "--volume", "\(f.base):/v:uidmap=0-1-10", "--exec", "/bin/true"])
    #expect(half.status != 0 && half.stderr.contains("needs both uid and gid mappings"), "\(half.stderr)")
    // Nothing was written: no pod in any state.
    #expect(try f.list().isEmpty)
    let pods = (try? FileManager.default.subpathsOfDirectory(atPath: f.dataDir + "/pods")) ?? []
    #expect(!pods.contains { $0.split(separator: "/").count >= 2 && $0.split(separator: "/")[1].count == 64 }, "\(pods)")
  }
}
