// Socket activation as sd_listen_fds(3) defines it: LISTEN_PID names this process and LISTEN_FDS
// counts the descriptors from 3 up that the service manager passed (LISTEN_FDNAMES: their names,
// ':'-separated). Variables meant for another process are ignored, as sd_listen_fds ignores them.
// The descriptors are made close-on-exec at once, so nothing this process runs gets them by accident:
// `liftoff run` opens them to stage1 only at its exec (stage1 hands them to the pod's one app, at the
// same numbers); liftoff-cri serves the CRI on its one socket (`liftoff-cri.socket`).
import Glibc
import LiftoffCore

public struct SocketActivation: Sendable {
  public var count: Int
  public var names: String?

  /// The descriptors passed to this process, or nil when there are none for it. With
  /// `unsetEnvironment` the three variables are removed (sd_listen_fds(1)), so that no child sees them.
  public static func inherited(unsetEnvironment: Bool = false) throws -> SocketActivation? {
    guard let text = getenv("LISTEN_FDS").map({ String(cString: $0) }) else { return nil }
    guard let pid = getenv("LISTEN_PID").map({ String(cString: $0) }), Int32(pid) == getpid() else { return nil }
    let names = getenv("LISTEN_FDNAMES").map { String(cString: $0) }
    if unsetEnvironment {
      for name in ["LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] { unsetenv(name) }
    }
    guard let n = Int(text), (1...1024).contains(n) else {
      throw LiftoffError.invalidArgument("LISTEN_FDS=\(text): expected a count of descriptors from 1 to 1024")
    }
    if let names, names.split(separator: ":", omittingEmptySubsequences: false).count != n {
      throw LiftoffError.invalidArgument("LISTEN_FDNAMES=\(names): expected \(n) names separated by ':'")
    }
    let sockets = SocketActivation(count: n, names: names)
    for fd in sockets.descriptors where fcntl(fd, F_GETFD) < 0 {
      throw LiftoffError.invalidArgument("LISTEN_FDS=\(n): descriptor \(fd) is not open")
    }
    sockets.inheritable(false)
    return sockets
  }

  public init(count: Int, names: String?) {
    self.count = count
    self.names = names
  }

  public var descriptors: [Int32] { (0..<count).map { Int32(3 + $0) } }

  public func inheritable(_ on: Bool) {
    for fd in descriptors { _ = fcntl(fd, F_SETFD, on ? 0 : FD_CLOEXEC) }
  }

  /// The path a descriptor's AF_UNIX stream socket is bound to, if it is one that listens; nil for any
  /// other descriptor (a TCP or datagram socket, an unbound or abstract one, a FIFO).
  public static func listeningUnixPath(_ fd: Int32) -> String? {
    var type: Int32 = 0
    var accepting: Int32 = 0
    var length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_STREAM.rawValue) else { return nil }
    length = socklen_t(MemoryLayout<Int32>.size)
    guard getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0, accepting == 1 else { return nil }
    var address = sockaddr_un()
    length = socklen_t(MemoryLayout<sockaddr_un>.size)
    let rc = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    guard rc == 0, address.sun_family == sa_family_t(AF_UNIX) else { return nil }
    let pathLength = Int(length) - MemoryLayout.offset(of: \sockaddr_un.sun_path)!
    guard pathLength > 1 else { return nil }
    let bytes = withUnsafeBytes(of: &address.sun_path) { Array($0.prefix(pathLength)) }
    guard bytes[0] != 0 else { return nil }  // abstract
    return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
  }
}
