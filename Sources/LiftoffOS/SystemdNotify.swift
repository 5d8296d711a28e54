// The service manager's notification protocol (sd_notify(3)), written out: one datagram of
// newline-separated `KEY=VALUE` assignments to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or
// `@name` for the abstract namespace). liftoff-cri (a `Type=notify` unit) sends `READY=1` once its
// socket listens and `STOPPING=1` when it begins to shut down. Without $NOTIFY_SOCKET (not started by
// systemd, or by a unit of another type) nothing is sent.
//
//   systemd ── starts ──▶ liftoff-cri ── bind + listen ──▶ "READY=1\nMAINPID=<pid>" ──▶ unit active
//                         SIGTERM ──▶ "STOPPING=1" ──▶ graceful shutdown ──▶ exit 0
import CLinux
import Glibc
import LiftoffCore

public struct SystemdNotify: Sendable {
  /// The socket's address as given ($NOTIFY_SOCKET).
  public let address: String

  /// From $NOTIFY_SOCKET, which is then removed from the environment so that no process liftoff-cri
  /// starts (liftoff, stage1, the pods' apps) inherits it. Call it early in main, before other threads
  /// read the environment. nil when it is unset or empty.
  public static func fromEnvironment() -> SystemdNotify? {
    guard let value = getenv("NOTIFY_SOCKET").map({ String(cString: $0) }), !value.isEmpty else { return nil }
    unsetenv("NOTIFY_SOCKET")
    return SystemdNotify(address: value)
  }

  public init(address: String) { self.address = address }

  /// Sends one notification (`"READY=1"`, `"STOPPING=1"`, `"STATUS=…"`, several joined by newlines).
  /// With `wait` false, a full queue at the receiver fails at once (EAGAIN) instead of blocking: for
  /// stage1, which relays what apps send and must never stall its loop on them.
  public func send(_ state: String, wait: Bool = true) throws(SystemCallError) {
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    var path = Array(address.utf8)
    let abstract = path.first == UInt8(ascii: "@")
    if abstract { path[0] = 0 }
    let capacity = MemoryLayout.size(ofValue: addr.sun_path)
    guard !path.isEmpty, path.count < capacity, abstract || path.first == UInt8(ascii: "/") else {
      throw SystemCallError("sendto", errno: EINVAL, path: address)
    }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in raw.copyBytes(from: path) }
    // A path's address includes its terminating NUL; an abstract name's is exactly its bytes.
    let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (abstract ? 0 : 1))
    let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw SystemCallError("socket", errno: errno) }
    defer { close(fd) }
    let bytes = Array(state.utf8)
    let sent = withUnsafePointer(to: &addr) { a in
      a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
        bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL) | (wait ? 0 : Int32(MSG_DONTWAIT)), sa, length) }
      }
    }
    guard sent == bytes.count else { throw SystemCallError("sendto", errno: sent < 0 ? errno : EMSGSIZE, path: address) }
  }
}
