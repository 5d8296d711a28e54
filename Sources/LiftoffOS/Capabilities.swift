// Linux capabilities by name, the default set containers get, and applying a set to the calling
// process (bounding set dropped, then permitted/effective set, inheritable and ambient cleared).
import CLinux
import Glibc
import LiftoffCore

public enum Capabilities {
  /// capability(7) names in bit order (bit = index).
  public static let names: [String] = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
  ]

  /// The 14 capabilities containerd and Docker grant by default (CapEff 00000000a80425fb).
  public static let defaultSet: [String] = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
  ]

  /// Accepts `CAP_SYS_ADMIN`, `SYS_ADMIN`, `sys_admin`; nil when unknown.
  public static func normalize(_ name: String) -> String? {
    var n = name.uppercased()
    if !n.hasPrefix("CAP_") { n = "CAP_" + n }
    return names.contains(n) ? n : nil
  }

  public static func bit(_ name: String) -> Int? {
    guard let n = normalize(name) else { return nil }
    return names.firstIndex(of: n)
  }

  public static func mask(_ set: [String]) throws(LiftoffError) -> UInt64 {
    var m: UInt64 = 0
    for c in set {
      guard let b = bit(c) else { throw .invalidArgument("unknown capability \(c)") }
      m |= 1 << UInt64(b)
    }
    return m
  }

  /// The highest capability the running kernel knows (/proc/sys/kernel/cap_last_cap).
  public static func lastCap() -> Int {
    if let s = try? FileSystem.readString("/proc/sys/kernel/cap_last_cap"),
      let v = Int(s.trimmingCharacters(in: " \n"))
    {
      return v
    }
    return names.count - 1
  }

  /// Drops every capability outside `keep` from the bounding set of the calling process.
  /// Needs CAP_SETPCAP, so call it before changing user or capsets.
  public static func limitBoundingSet(to keep: UInt64) throws(SystemCallError) {
    for cap in 0...lastCap() where keep & (1 << UInt64(cap)) == 0 {
      if liftoff_cap_bounding_read(Int32(cap)) == 1, liftoff_cap_bounding_drop(Int32(cap)) != 0 {
        throw SystemCallError("prctl PR_CAPBSET_DROP \(cap < names.count ? names[cap] : String(cap))", errno: errno)
      }
    }
  }

  /// Sets effective = permitted = `set`, inheritable = ambient = `ambient` (within `set`); the
  /// ambient set is cleared first.
  public static func apply(_ set: UInt64, ambient: UInt64 = 0) throws(SystemCallError) {
    let ambient = ambient & set
    guard liftoff_capset(set, set, ambient) == 0 else { throw SystemCallError("capset", errno: errno) }
    _ = liftoff_ambient_clear()
    for cap in 0..<64 where ambient & (1 << UInt64(cap)) != 0 {
      guard liftoff_ambient_raise(Int32(cap)) == 0 else {
        throw SystemCallError("prctl PR_CAP_AMBIENT_RAISE \(cap < names.count ? names[cap] : String(cap))", errno: errno)
      }
    }
  }

  /// The calling process's permitted set (`CapPrm` in /proc/self/status).
  public static func currentPermitted() -> UInt64 { statusMask("CapPrm") ?? UInt64.max }

  /// A hex capability mask from /proc/PID/status (`CapEff`, `CapPrm`, `CapBnd`, …).
  public static func statusMask(_ field: String, pid: String = "self") -> UInt64? {
    guard let text = try? FileSystem.readString("/proc/\(pid)/status") else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
      return UInt64(String(line.dropFirst(field.count + 1)).trimmingCharacters(in: " \t"), radix: 16)
    }
    return nil
  }

  /// Names of the capabilities in a mask, as /proc/PID/status `CapEff:` shows them in hex.
  public static func names(in mask: UInt64) -> [String] {
    names.enumerated().filter { mask & (1 << UInt64($0.offset)) != 0 }.map(\.element)
  }
}

extension String {
  /// Trims any of the given characters from both ends (no Foundation here).
  public func trimmingCharacters(in set: String) -> String {
    let chars = Set(set)
    var s = Substring(self)
    while let f = s.first, chars.contains(f) { s.removeFirst() }
    while let l = s.last, chars.contains(l) { s.removeLast() }
    return String(s)
  }
}
