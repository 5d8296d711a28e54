// An app's device confinement on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program attached to its
// group. The kernel runs it on every open, mknod and access check of a device node by a process of
// the group, with `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
// (access_type = access << 16 | type; access: 1 mknod, 2 read, 4 write; type: 1 block, 2 char), and
// allows the access only when it returns 1. The program is v1's `devices` allow-list written out as
// instructions, by hand (no libbpf), as runc's libcontainer/cgroups/devices/devicefilter and crun's
// ebpf.c do:
//
//   r2 = ctx.access_type & 0xffff                 the node's type
//   r3 = ctx.access_type >> 16                    the access asked for
//   r4 = ctx.major;  r5 = ctx.minor
//   for each allow rule, in order:
//     if r2 != TYPE goto next                     (left out for `a`)
//     r1 = r3; r1 &= ACCESS; if r1 != r3 goto next  (left out for rwm: every access is a subset)
//     if r4 != MAJOR goto next                    (left out for `*`)
//     if r5 != MINOR goto next                    (left out for `*`)
//     r0 = 1; exit                                allowed
//   r0 = 0; exit                                  denied: nothing matched
import CLinux
import Glibc
import LiftoffCore

/// One rule of a device allow-list, in cgroup v1's words: `c 1:3 rwm`, `b *:* m`, `a`.
public struct DeviceRule: Sendable, Equatable, CustomStringConvertible {
  public enum Kind: String, Sendable { case all = "a", char = "c", block = "b" }

  public struct Access: OptionSet, Sendable, Hashable {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let mknod = Access(rawValue: 1)
    public static let read = Access(rawValue: 2)
    public static let write = Access(rawValue: 4)
    public static let all: Access = [.mknod, .read, .write]

    /// `rwm` or a non-empty subset of it, in any order; nil for anything else.
    public init?(_ text: String) {
      var a: Access = []
      for c in text {
        switch c {
        case "r": a.insert(.read)
        case "w": a.insert(.write)
        case "m": a.insert(.mknod)
        default: return nil
        }
      }
      if a.isEmpty { return nil }
      self = a
    }

    public var text: String { (contains(.read) ? "r" : "") + (contains(.write) ? "w" : "") + (contains(.mknod) ? "m" : "") }
  }

  public var kind: Kind
  /// nil: any (`*`).
  public var major: UInt32?
  public var minor: UInt32?
  public var access: Access

  public init(_ kind: Kind, _ major: UInt32?, _ minor: UInt32?, _ access: Access) {
    self.kind = kind
    self.major = major
    self.minor = minor
    self.access = access
  }

  /// A v1 rule: `TYPE MAJOR:MINOR ACCESS` (`*` for any number) or `a` (everything).
  public init(parsing text: String) throws(LiftoffError) {
    let f = text.split(separator: " ").map(String.init)
    if f == ["a"] {
      self.init(.all, nil, nil, .all)
      return
    }
    guard f.count == 3, let kind = Kind(rawValue: f[0]), let access = Access(f[2]) else {
      throw .invalidArgument("device rule \"\(text)\": expected TYPE MAJOR:MINOR ACCESS (type a, b or c; access a subset of rwm)")
    }
    let n = f[1].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    func number(_ s: String) throws(LiftoffError) -> UInt32? {
      if s == "*" { return nil }
      guard let v = UInt32(s) else { throw .invalidArgument("device rule \"\(text)\": \(s) is not a device number or *") }
      return v
    }
    guard n.count == 2 else { throw .invalidArgument("device rule \"\(text)\": expected MAJOR:MINOR") }
    self.init(kind, try number(n[0]), try number(n[1]), access)
  }

  /// The rule that gives an app its own device node with the permissions it was given.
  public init(_ device: AppDevice) throws(LiftoffError) {
    guard let kind = Kind(rawValue: device.type), kind != .all else {
      throw .invalidArgument("device \(device.path): type \(device.type) is not c or b")
    }
    guard let access = Access(device.permissions) else {
      throw .invalidArgument("device \(device.path): permissions \"\(device.permissions)\" are not a non-empty subset of rwm")
    }
    self.init(kind, device.major, device.minor, access)
  }

  /// The v1 form, as `devices.allow` takes it.
  public var description: String {
    if kind == .all { return "a" }
    return "\(kind.rawValue) \(major.map(String.init) ?? "*"):\(minor.map(String.init) ?? "*") \(access.text)"
  }
}

/// One eBPF instruction (`struct bpf_insn`).
public struct BPFInstruction: Sendable, Equatable, CustomStringConvertible {
  public var code: UInt8
  public var dst: UInt8
  public var src: UInt8
  public var offset: Int16
  public var imm: Int32

  public init(code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, imm: Int32 = 0) {
    self.code = code
    self.dst = dst
    self.src = src
    self.offset = offset
    self.imm = imm
  }

  // Opcodes (linux/bpf_common.h, linux/bpf.h): class | op | source.
  static let ldxMemW: UInt8 = 0x61  // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
  static let and32Imm: UInt8 = 0x54  // BPF_ALU | BPF_AND | BPF_K
  static let rsh32Imm: UInt8 = 0x74  // BPF_ALU | BPF_RSH | BPF_K
  static let mov32Imm: UInt8 = 0xb4  // BPF_ALU | BPF_MOV | BPF_K
  static let mov32Reg: UInt8 = 0xbc  // BPF_ALU | BPF_MOV | BPF_X
  static let jneImm: UInt8 = 0x55  // BPF_JMP | BPF_JNE | BPF_K: if dst != imm, pc += off
  static let jneReg: UInt8 = 0x5d  // BPF_JMP | BPF_JNE | BPF_X: if dst != src, pc += off
  static let exit: UInt8 = 0x95  // BPF_JMP | BPF_EXIT: return r0

  /// The 8 bytes the kernel takes (little-endian host; registers dst in the low nibble).
  public var bytes: [UInt8] {
    let o = UInt16(bitPattern: offset)
    let i = UInt32(bitPattern: imm)
    return [code, (src << 4) | (dst & 0x0f), UInt8(o & 0xff), UInt8(o >> 8), UInt8(i & 0xff), UInt8((i >> 8) & 0xff), UInt8((i >> 16) & 0xff), UInt8(i >> 24)]
  }

  public var description: String {
    switch code {
    case Self.ldxMemW: return "r\(dst) = *(u32 *)(r\(src) + \(offset))"
    case Self.and32Imm: return "w\(dst) &= \(imm)"
    case Self.rsh32Imm: return "w\(dst) >>= \(imm)"
    case Self.mov32Imm: return "w\(dst) = \(imm)"
    case Self.mov32Reg: return "w\(dst) = w\(src)"
    case Self.jneImm: return "if r\(dst) != \(imm) goto +\(offset)"
    case Self.jneReg: return "if r\(dst) != r\(src) goto +\(offset)"
    case Self.exit: return "exit"
    default: return "op \(code)"
    }
  }
}

public enum DeviceFilter {
  /// The program of an allow-list: deny by default, allow what one of `rules` matches.
  public static func program(allowing rules: [DeviceRule]) throws(LiftoffError) -> [BPFInstruction] {
    typealias I = BPFInstruction
    var out: [I] = [
      I(code: I.ldxMemW, dst: 2, src: 1, offset: 0), I(code: I.and32Imm, dst: 2, imm: 0xffff),
      I(code: I.ldxMemW, dst: 3, src: 1, offset: 0), I(code: I.rsh32Imm, dst: 3, imm: 16),
      I(code: I.ldxMemW, dst: 4, src: 1, offset: 4),
      I(code: I.ldxMemW, dst: 5, src: 1, offset: 8),
    ]
    for rule in rules {
      // Each check jumps past the rest of its block (to the next rule) when it fails; the offset
      // is filled in once the block's length is known.
      var block: [I] = []
      switch rule.kind {
      case .all: break
      case .block: block.append(I(code: I.jneImm, dst: 2, imm: 1))  // BPF_DEVCG_DEV_BLOCK
      case .char: block.append(I(code: I.jneImm, dst: 2, imm: 2))  // BPF_DEVCG_DEV_CHAR
      }
      if rule.access != .all {
        block += [I(code: I.mov32Reg, dst: 1, src: 3), I(code: I.and32Imm, dst: 1, imm: rule.access.rawValue), I(code: I.jneReg, dst: 1, src: 3)]
      }
      for (reg, value) in [(UInt8(4), rule.major), (5, rule.minor)] {
        guard let value else { continue }
        // The registers hold the zero-extended u32; the immediate is sign-extended to 64 bits.
        guard value <= UInt32(Int32.max) else { throw .invalidArgument("device rule \"\(rule)\": \(value) is not a device number") }
        block.append(I(code: I.jneImm, dst: reg, imm: Int32(value)))
      }
      block += [I(code: I.mov32Imm, dst: 0, imm: 1), I(code: I.exit)]
      for i in block.indices where block[i].code == I.jneImm || block[i].code == I.jneReg {
        block[i].offset = Int16(block.count - i - 1)
      }
      out += block
      // A rule that matches everything ends the program: what follows could never run (and the
      // verifier refuses unreachable instructions).
      if rule.kind == .all && rule.access == .all && rule.major == nil && rule.minor == nil { return out }
    }
    return out + [I(code: I.mov32Imm, dst: 0, imm: 0), I(code: I.exit)]
  }

  /// Loads the program of `rules` and attaches it to the cgroup2 group `dir` as its only device
  /// program: one attached before (a second call on the same group, as for a group that outlived
  /// its app because it could not be removed) is replaced, so programs never pile up. The program stays attached after its fd is closed, until it is
  /// replaced or the group is removed.
  public static func attach(allowing rules: [DeviceRule], to dir: String) throws(LiftoffError) {
    let code = try program(allowing: rules).flatMap(\.bytes)
    func load(_ log: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int32 {
      code.withUnsafeBytes { liftoff_bpf_device_load($0.baseAddress, UInt32(code.count / 8), "liftoff_devices", log, UInt32(size)) }
    }
    let prog = load(nil, 0)
    guard prog >= 0 else {
      let e = errno
      // Again with a log, for the verifier's words.
      var log = [CChar](repeating: 0, count: 65536)
      let again = load(&log, log.count)
      if again >= 0 { close(again) }
      let verifier = String(decoding: log.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      throw LiftoffError(
        .internal, "cgroup \(dir): loading the device filter (BPF_PROG_LOAD) failed" + (verifier.isEmpty ? "" : ": \(verifier)"),
        cause: SystemCallError("bpf", errno: e))
    }
    defer { close(prog) }
    let group = try openGroup(dir)
    defer { close(group) }
    guard liftoff_bpf_device_attach(group, prog) == 0 else {
      throw LiftoffError(.internal, "cgroup \(dir): attaching the device filter failed", cause: SystemCallError("bpf(BPF_PROG_ATTACH)", errno: errno, path: dir))
    }
  }

  /// The number of device programs attached to the group itself (not inherited ones).
  public static func attachedCount(_ dir: String) throws(LiftoffError) -> Int {
    let group = try openGroup(dir)
    defer { close(group) }
    var flags: UInt32 = 0
    let n = liftoff_bpf_device_count(group, &flags)
    guard n >= 0 else { throw LiftoffError(.internal, "cgroup \(dir): BPF_PROG_QUERY failed", cause: SystemCallError("bpf", errno: errno, path: dir)) }
    return Int(n)
  }

  private static func openGroup(_ dir: String) throws(LiftoffError) -> Int32 {
    let fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw LiftoffError(.internal, "cgroup \(dir) cannot be opened", cause: SystemCallError("open", errno: errno, path: dir)) }
    return fd
  }
}
