import Foundation
import Glibc
import LiftoffCore
import LiftoffOS
import Testing

/// Runs a device program the way the kernel does, for the instructions DeviceFilter emits: returns
/// r0 at exit. `type` 1 block, 2 char; `access` 1 mknod, 2 read, 4 write.
func evaluate(_ program: [BPFInstruction], type: UInt32, access: UInt32, major: UInt32, minor: UInt32) throws -> UInt64 {
  var r = [UInt64](repeating: 0, count: 11)
  let ctx = [access << 16 | type, major, minor]
  var pc = 0
  var steps = 0
  while pc < program.count {
    steps += 1
    guard steps < 10_000 else { throw LiftoffError.internal("loops") }
    let i = program[pc]
    let d = Int(i.dst), s = Int(i.src)
    pc += 1
    switch i.code {
    case 0x61:
      #expect(s == 1 && i.offset % 4 == 0 && (0..<12).contains(i.offset))
      r[d] = UInt64(ctx[Int(i.offset) / 4])
    case 0x54: r[d] = UInt64(UInt32(truncatingIfNeeded: r[d]) & UInt32(bitPattern: i.imm))
    case 0x74: r[d] = UInt64(UInt32(truncatingIfNeeded: r[d]) >> UInt32(i.imm))
    case 0xb4: r[d] = UInt64(UInt32(bitPattern: i.imm))
    case 0xbc: r[d] = UInt64(UInt32(truncatingIfNeeded: r[s]))
    case 0x55: if r[d] != UInt64(bitPattern: Int64(i.imm)) { pc += Int(i.offset) }
    case 0x5d: if r[d] != r[s] { pc += Int(i.offset) }
    case 0x95: return r[0]
    default: throw LiftoffError.internal("unknown opcode \(i.code)")
    }
  }
  throw LiftoffError.internal("ran off the end")
}

@Suite struct DeviceFilterTests {
  let block: UInt32 = 1, char: UInt32 = 2
  let mknod: UInt32 = 1, read: UInt32 = 2, write: UInt32 = 4

  @Test func rulesParseAndPrintInV1Form() throws {
    for text in ["c *:* m", "b *:* m", "c 1:3 rwm", "c 136:* rwm", "b 8:0 rw", "a"] {
      #expect(try DeviceRule(parsing: text).description == text)
    }
    #expect(try DeviceRule(parsing: "c 1:3 mwr") == DeviceRule(.char, 1, 3, .all))
    for bad in ["", "x 1:3 rwm", "c 1:3", "c 1:3 rwx", "c 1 rwm", "c -1:3 r", "c 1:3 "] {
      #expect(throws: LiftoffError.self) { try DeviceRule(parsing: bad) }
    }
    #expect(Cgroups.defaultDeviceRules.map(\.description) == [
      "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm",
      "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
    ])
    let dev = AppDevice(path: "/dev/ctl", type: "c", major: 10, minor: 237, permissions: "r")
    #expect(try DeviceRule(dev).description == "c 10:237 r")
    #expect(throws: LiftoffError.self) { try DeviceRule(AppDevice(path: "/dev/x", type: "c", major: 1, minor: 1, permissions: "")) }
    #expect(throws: LiftoffError.self) { try DeviceRule(AppDevice(path: "/dev/x", type: "a", major: 1, minor: 1)) }
  }

  @Test func instructionsOfSmallRuleSets() throws {
    let prologue = [
      "r2 = *(u32 *)(r1 + 0)", "w2 &= 65535", "r3 = *(u32 *)(r1 + 0)", "w3 >>= 16", "r4 = *(u32 *)(r1 + 4)", "r5 = *(u32 *)(r1 + 8)",
    ]
    let deny = ["w0 = 0", "exit"]
    #expect(try DeviceFilter.program(allowing: []).map(\.description) == prologue + deny)
    // rwm: no access check; both numbers checked.
    #expect(
      try DeviceFilter.program(allowing: [DeviceRule(parsing: "c 1:3 rwm")]).map(\.description)
        == prologue + ["if r2 != 2 goto +4", "if r4 != 1 goto +3", "if r5 != 3 goto +2", "w0 = 1", "exit"] + deny)
    // A wildcard major and minor and a partial access: the access is a subset of what is allowed.
    #expect(
      try DeviceFilter.program(allowing: [DeviceRule(parsing: "b *:* m"), DeviceRule(parsing: "c 136:* rw")]).map(\.description)
        == prologue + ["if r2 != 1 goto +5", "w1 = w3", "w1 &= 1", "if r1 != r3 goto +2", "w0 = 1", "exit"]
        + ["if r2 != 2 goto +6", "w1 = w3", "w1 &= 6", "if r1 != r3 goto +3", "if r4 != 136 goto +2", "w0 = 1", "exit"] + deny)
    // `a` allows everything and ends the program (the verifier refuses unreachable code).
    #expect(
      try DeviceFilter.program(allowing: [DeviceRule(parsing: "c 1:3 r"), DeviceRule(parsing: "a"), DeviceRule(parsing: "c 1:5 r")])
        .map(\.description)
        == prologue + ["if r2 != 2 goto +7", "w1 = w3", "w1 &= 2", "if r1 != r3 goto +4", "if r4 != 1 goto +3", "if r5 != 3 goto +2", "w0 = 1", "exit"]
        + ["w0 = 1", "exit"])
    #expect(throws: LiftoffError.self) { try DeviceFilter.program(allowing: [DeviceRule(.char, 0x8000_0000, 1, .all)]) }
    // struct bpf_insn: code, dst | src << 4, off (le16), imm (le32).
    #expect(BPFInstruction(code: 0x5d, dst: 1, src: 3, offset: 2).bytes == [0x5d, 0x31, 2, 0, 0, 0, 0, 0])
    #expect(BPFInstruction(code: 0x54, dst: 2, imm: 0xffff).bytes == [0x54, 0x02, 0, 0, 0xff, 0xff, 0, 0])
    #expect(BPFInstruction(code: 0x55, dst: 4, offset: -1, imm: -2).bytes == [0x55, 0x04, 0xff, 0xff, 0xfe, 0xff, 0xff, 0xff])
  }

  @Test func defaultRulesAndAnAppsDevicesDecideAsV1Would() throws {
    let extra = [
      AppDevice(path: "/dev/ctl", type: "c", major: 10, minor: 237, permissions: "r"),
      AppDevice(path: "/dev/sdb", type: "b", major: 8, minor: 16, permissions: "rw"),
    ]
    let p = try DeviceFilter.program(allowing: Cgroups.deviceRules(extra: extra))
    func allowed(_ type: UInt32, _ access: UInt32, _ major: UInt32, _ minor: UInt32) throws -> Bool {
      try evaluate(p, type: type, access: access, major: major, minor: minor) == 1
    }
    // /dev/null, /dev/zero, /dev/ptmx, a pts, /dev/net/tun: read and write, together or apart.
    for (ma, mi) in [(1, 3), (1, 5), (5, 2), (136, 7), (10, 200)] as [(UInt32, UInt32)] {
      #expect(try allowed(char, read | write, ma, mi) && allowed(char, read, ma, mi) && allowed(char, write, ma, mi), "\(ma):\(mi)")
    }
    // mknod of anything; nothing else of the host's disk, memory or other devices.
    #expect(try allowed(block, mknod, 254, 0) && allowed(char, mknod, 1, 1))
    #expect(try !allowed(block, read, 254, 0) && !allowed(block, write, 8, 0) && !allowed(char, read, 1, 1))
    #expect(try !allowed(char, read, 10, 229) && !allowed(char, read | mknod, 1, 1))
    // The app's own: what it was given, no more.
    #expect(try allowed(char, read, 10, 237) && !allowed(char, write, 10, 237) && !allowed(char, read | write, 10, 237))
    #expect(try allowed(block, read | write, 8, 16) && !allowed(block, read, 8, 17) && !allowed(char, read, 8, 16))
    // Nothing allowed without rules; `a` allows all.
    #expect(try evaluate(DeviceFilter.program(allowing: []), type: char, access: read, major: 1, minor: 3) == 0)
    #expect(try evaluate(DeviceFilter.program(allowing: [DeviceRule(parsing: "a")]), type: block, access: write, major: 8, minor: 0) == 1)
  }

  @Test func refusesAnUnprivilegedAppWhereNothingCanConfineIt() throws {
    let root = try makeTempDir("nodev")
    defer { try? FileSystem.removeTree(root) }
    let cg = Cgroups(root: root, version: .v1)
    #expect(cg.unifiedDirectory(pod: "p", app: "a") == nil)
    try cg.create(pod: "p", app: "a", resources: AppResources())
    #expect {
      try cg.restrictDevices(pod: "p", app: "a", allowAll: false, extra: [])
    } throws: { "\($0)".contains("devices cannot be confined") && "\($0)".contains("\(root)/devices") }
    try cg.restrictDevices(pod: "p", app: "a", allowAll: true, extra: [])
    // With the v1 controller: the rules, in order.
    try FileSystem.makeDirectories("\(root)/devices")
    let withDevices = Cgroups(root: root, version: .v1)
    try withDevices.create(pod: "p", app: "a", resources: AppResources())
    try withDevices.restrictDevices(pod: "p", app: "a", allowAll: false, extra: [])
    #expect(try FileSystem.readString("\(root)/devices/liftoff/p/a/devices.allow") == "c 10:200 rwm")
    #expect(cg.removePod("p"))
    // A "cgroup2" hierarchy the program cannot be attached to (a plain directory): with the v1
    // controller the app runs, with a warning; without it, it is refused naming the failure.
    let hybrid = Cgroups(root: root, version: .v1, unified: "\(root)/unified")
    try hybrid.create(pod: "q", app: "a", resources: AppResources())
    let warning = try hybrid.restrictDevices(pod: "q", app: "a", allowAll: false, extra: [])
    #expect(warning?.contains("only its cgroup v1 devices group confines its devices") == true, "\(warning ?? "")")
    try FileSystem.removeTree("\(root)/devices")
    #expect {
      try hybrid.restrictDevices(pod: "q", app: "a", allowAll: false, extra: [])
    } throws: { "\($0)".contains("no cgroup v1 devices controller and") && "\($0)".contains("device filter") }
    #expect(hybrid.removePod("q"))
  }

  @Test func hybridLayoutHasAUnifiedTwin() throws {
    let root = try makeTempDir("hybrid")
    defer { try? FileSystem.removeTree(root) }
    let cg = Cgroups(root: root, version: .v1, unified: "\(root)/unified").under("kubepods/pod1")
    #expect(cg.unifiedDirectory(pod: "p", app: "a") == "\(root)/unified/kubepods/pod1/p/a")
    #expect(cg.directories(pod: "p", app: "a").last == "\(root)/unified/kubepods/pod1/p/a")
    try cg.create(pod: "p", app: "a", resources: AppResources())
    #expect(FileSystem.isDirectory("\(root)/unified/kubepods/pod1/p/a"))
    #expect(cg.removePod("p"))
    #expect(!FileSystem.exists("\(root)/unified/kubepods/pod1/p"))
    #expect(Cgroups(root: root, version: .v2, unified: "\(root)/unified").unified == nil)
  }
}

/// The program in the kernel: a group in the cgroup2 hierarchy (the hybrid one here, where a device
/// program attaches to any group), with processes in it.
@Suite(.enabled(if: getuid() == 0 && Cgroups.host().unifiedDirectory(pod: "x") != nil, "needs root and a cgroup2 hierarchy"))
struct DeviceFilterKernelTests {
  /// A host block device that host root can open: /dev/loop0 (7:0). (This VM refuses even host root
  /// an open of its disk, /dev/vda, so a node of that would prove nothing.)
  static let hostBlockDevice: (UInt32, UInt32) = (7, 0)

  /// `sh -c SCRIPT` moved into `group` before it runs SCRIPT: (status, output).
  func shell(in group: String, _ script: String) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/sh")
    p.arguments = ["-c", "echo $$ > \(group)/cgroup.procs || exit 99; \(script)"]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
  }

  @Test func attachedProgramDeniesTheHostsDiskAndIsReplacedNotStacked() throws {
    let unified = Cgroups.host().unified ?? Cgroups.host().root
    // A pure v2 layout on the cgroup2 hierarchy (no controllers in it here: no limits written).
    let cg = Cgroups(root: unified, version: .v2, parent: "liftoff-ostest-\(Random.hex(bytes: 4))")
    let dir = try makeTempDir("devnode")
    defer {
      _ = cg.removePod("p")
      rmdir("\(unified)/\(cg.parent)")
      try? FileSystem.removeTree(dir)
    }
    try cg.create(pod: "p", app: "a", resources: AppResources())
    let group = try #require(cg.unifiedDirectory(pod: "p", app: "a"))
    let (major, minor) = Self.hostBlockDevice
    try FileSystem.makeDevice("\(dir)/disk", block: true, mode: 0o600, major: major, minor: minor)
    let probe = "head -c 1 \(dir)/disk >/dev/null && echo disk=readable; echo x > /dev/null && echo null=ok"

    // Before: nothing attached, the disk node opens.
    #expect(try DeviceFilter.attachedCount(group) == 0)
    #expect(try shell(in: group, probe).1.contains("disk=readable"))

    for _ in 0..<3 { try cg.restrictDevices(pod: "p", app: "a", allowAll: false, extra: []) }
    #expect(try DeviceFilter.attachedCount(group) == 1, "a second attach replaces the first")
    let (_, out) = try shell(in: group, probe)
    #expect(out.contains("Operation not permitted") && !out.contains("disk=readable") && out.contains("null=ok"), "\(out)")

    // The app's own device, read-only as given.
    let disk = AppDevice(path: "/dev/disk", type: "b", major: major, minor: minor, permissions: "r")
    try cg.restrictDevices(pod: "p", app: "a", allowAll: false, extra: [disk])
    #expect(try DeviceFilter.attachedCount(group) == 1)
    let (_, ro) = try shell(in: group, "head -c 1 \(dir)/disk >/dev/null && echo read=ok; (exec 3>>\(dir)/disk) 2>/dev/null && echo write=ok || echo write=denied")
    #expect(ro.contains("read=ok") && ro.contains("write=denied"), "\(ro)")

    // Privileged: no program on its (new) group.
    try cg.create(pod: "p", app: "priv", resources: AppResources())
    let privGroup = try #require(cg.unifiedDirectory(pod: "p", app: "priv"))
    try cg.restrictDevices(pod: "p", app: "priv", allowAll: true, extra: [])
    #expect(try DeviceFilter.attachedCount(privGroup) == 0)
    #expect(try shell(in: privGroup, probe).1.contains("disk=readable"))
  }
}
