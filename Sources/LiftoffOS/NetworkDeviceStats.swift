// Per-interface counters of a network namespace, from `/proc/<pid>/net/dev` of a process inside it
// (stage1 holds the pod's namespace). Format (linux/net/core/net-procfs.c), after two header lines:
//   "  eth0: RXbytes RXpackets RXerrs RXdrop fifo frame compressed multicast TXbytes TXpackets TXerrs TXdrop …"
import Glibc
import LiftoffCore

public struct NetworkDeviceStats: Sendable, Equatable {
  public var name: String
  public var rxBytes: UInt64
  public var rxErrors: UInt64
  public var txBytes: UInt64
  public var txErrors: UInt64

  public init(name: String, rxBytes: UInt64, rxErrors: UInt64, txBytes: UInt64, txErrors: UInt64) {
    self.name = name
    self.rxBytes = rxBytes
    self.rxErrors = rxErrors
    self.txBytes = txBytes
    self.txErrors = txErrors
  }

  /// The interfaces of a `net/dev` text, loopback left out, in file order.
  public static func parse(_ text: String) -> [NetworkDeviceStats] {
    var out: [NetworkDeviceStats] = []
    for line in text.split(separator: "\n") {
      guard let colon = line.firstIndex(of: ":") else { continue }
      let name = line[..<colon].trimmingPrefixSpaces
      let f = line[line.index(after: colon)...].split(separator: " ").compactMap { UInt64($0) }
      guard !name.isEmpty, name != "lo", f.count >= 16 else { continue }
      out.append(NetworkDeviceStats(name: String(name), rxBytes: f[0], rxErrors: f[2], txBytes: f[8], txErrors: f[10]))
    }
    return out
  }

  /// The interfaces of the network namespace that process `pid` is in.
  public static func read(pid: Int32) throws(SystemCallError) -> [NetworkDeviceStats] {
    parse(try FileSystem.readString("/proc/\(pid)/net/dev"))
  }
}

extension Substring {
  fileprivate var trimmingPrefixSpaces: Substring { drop { $0 == " " } }
}
